import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChordBackend } from '../../backend.js';
import { MemoryBackend } from '../../backends/memory/memory-backend.js';
import { unset } from '../../delta/index.js';
import { Chord } from '../../engine/index.js';
import { ChordError, ValidationError } from '../../errors.js';
import { createSyncHandler, toNodeHandler } from '../../http/index.js';
import { type CliCommand, type CliIo, exitCodeOf, redactUrl } from '../command.js';
import { loadPostgres } from '../load-backend.js';
import { demoPage } from './serve-page.js';
import { type DemoHttpServer, type DemoTransport, createDemoHttpServer, demoTransport, transportScheme } from './serve-transport.js';

/** Port `chord-sync serve` listens on unless `--port` says otherwise. */
export const DEFAULT_SERVE_PORT = 3000;
/** Host `chord-sync serve` listens on unless `--host` says otherwise: this machine only. */
export const DEFAULT_SERVE_HOST = '127.0.0.1';
/** The context every window of the demo shares. */
export const DEMO_BOARD_ID = 'demo:board';

/** The built package's root (dist/), where the page's client modules are read from. */
const PACKAGE_LIB_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The modules the page may load: the client and what it imports, nothing else of the package. */
const LIB_FILE = /^\/lib\/((?:client|delta|wire)\/[a-z0-9-]+|errors|validation|types)\.js$/;
const NOTE_ID = /^[a-z0-9]{1,32}$/;
const NOTE_COLOR = /^#[0-9a-f]{6}$/;
const MAX_BODY_BYTES = 4096;
const MAX_NOTES = 200;

/** What {@link startDemoServer} takes. */
export interface DemoServerConfig {
  readonly chord: Chord;
  /** Default {@link DEFAULT_SERVE_PORT}; 0 picks a free port. */
  readonly port?: number;
  /** Default {@link DEFAULT_SERVE_HOST}. */
  readonly host?: string;
  /** Directory holding the built `client/`, `delta/`, `errors.js`… Default: this package's dist/. */
  readonly libRoot?: string;
  /** HTTP/1.1, HTTPS with HTTP/2 (and an HTTP/1.1 fallback), or cleartext HTTP/2. Default `{ kind: 'http1' }`. */
  readonly transport?: DemoTransport;
}

/** A running demo server. */
export interface DemoServer {
  readonly url: string;
  readonly server: DemoHttpServer;
  /** Stops listening and ends every open connection (the SSE streams too). */
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify({ error: { code, message } }));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ValidationError('body', `must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface Note {
  text: string;
  x: number;
  y: number;
  color: string;
  by?: string;
}

/** Checks a note write `{ id, note }` (`note: null` removes it); the page is not trusted. */
function parseNoteWrite(text: string): { id: string; note: Note | null } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ValidationError('body', 'must be JSON');
  }
  const { id, note } = (body ?? {}) as { id?: unknown; note?: unknown };
  if (typeof id !== 'string' || !NOTE_ID.test(id)) throw new ValidationError('id', 'must be 1 to 32 lowercase letters or digits');
  if (note === null) return { id, note: null };
  const n = (note ?? {}) as Record<string, unknown>;
  if (typeof n.text !== 'string' || n.text.length > 200) throw new ValidationError('note.text', 'must be a string of at most 200 characters');
  for (const axis of ['x', 'y'] as const) {
    if (typeof n[axis] !== 'number' || !Number.isFinite(n[axis]) || Math.abs(n[axis]) > 100_000) throw new ValidationError(`note.${axis}`, 'must be a number');
  }
  if (typeof n.color !== 'string' || !NOTE_COLOR.test(n.color)) throw new ValidationError('note.color', 'must be a colour like #fff8c5');
  if (n.by !== undefined && (typeof n.by !== 'string' || n.by.length > 40)) throw new ValidationError('note.by', 'must be a string of at most 40 characters');
  const clean: Note = { text: n.text, x: Math.round(n.x as number), y: Math.round(n.y as number), color: n.color };
  if (n.by !== undefined) clean.by = n.by as string;
  return { id, note: clean };
}

/**
 * Serves the live demo: the page at `/`, the built client under `/lib/`, the sync route under
 * `/contexts/` (SSE and JSON, from `chord-sync/http`) and `POST /api/notes` for the page's writes.
 * Makes the shared board context if it does not exist.
 */
export async function startDemoServer(config: DemoServerConfig): Promise<DemoServer> {
  const { chord } = config;
  const libRoot = config.libRoot ?? PACKAGE_LIB_ROOT;
  if ((await chord.getContext(DEMO_BOARD_ID)) === null) await chord.setContext(DEMO_BOARD_ID, { title: 'Live board', notes: {} });
  const sync = toNodeHandler(createSyncHandler(chord, { basePath: '/contexts' }));
  const page = demoPage(DEMO_BOARD_ID);

  const transport = config.transport ?? { kind: 'http1' };
  const server = createDemoHttpServer(transport, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://demo').pathname;
    if (path.startsWith('/contexts/')) {
      sync(req, res);
      return;
    }
    void (async () => {
      try {
        if (req.method === 'GET' && path === '/') return send(res, 200, 'text/html; charset=utf-8', page);
        const lib = LIB_FILE.exec(path);
        if (req.method === 'GET' && lib !== null) {
          const file = join(libRoot, `${lib[1]}.js`);
          if (!existsSync(file)) return sendError(res, 404, 'not_found', `${path} is not built: run npm run build`);
          return send(res, 200, 'text/javascript; charset=utf-8', await readFile(file));
        }
        if (req.method === 'POST' && path === '/api/notes') {
          const { id, note } = parseNoteWrite(await readBody(req));
          const board = await chord.getContext(DEMO_BOARD_ID);
          const notes = (board?.context.notes ?? {}) as Record<string, unknown>;
          if (note !== null && !(id in notes) && Object.keys(notes).length >= MAX_NOTES) {
            throw new ValidationError('note', `the board holds at most ${MAX_NOTES} notes`);
          }
          const { context } = await chord.updateContext(DEMO_BOARD_ID, { notes: { [id]: note === null ? unset : { ...note } } });
          return send(res, 200, 'application/json; charset=utf-8', JSON.stringify({ version: context.version }));
        }
        sendError(res, 404, 'not_found', `nothing at ${req.method} ${path}`);
      } catch (error) {
        if (error instanceof ValidationError) return sendError(res, 400, error.code, error.message);
        if (error instanceof ChordError) return sendError(res, error.code === 'not_found' ? 404 : 503, error.code, error.message);
        sendError(res, 500, 'internal', 'internal error');
      }
    })();
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const host = config.host ?? DEFAULT_SERVE_HOST;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port ?? DEFAULT_SERVE_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${transportScheme(transport)}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** The backend: PostgreSQL (migrated first) when a URL is given, else a MemoryBackend. */
async function openBackend(url: string | undefined, io: CliIo): Promise<{ backend: ChordBackend; description: string; close(): Promise<void> }> {
  if (url === undefined || url === '') {
    return { backend: new MemoryBackend(), description: 'MemoryBackend (set DATABASE_URL or --url for PostgreSQL)', close: async () => {} };
  }
  // Loaded only here: a memory-only install has no PostgreSQL driver.
  const { PrismaBackend, migrate } = await loadPostgres('--url');
  io.out(`migrating ${redactUrl(url)}…`);
  await migrate({ connectionString: url });
  const backend = new PrismaBackend({ connectionString: url });
  return { backend, description: `PrismaBackend on ${redactUrl(url)}`, close: () => backend.close() };
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SERVE_PORT;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw new ValidationError('--port', `must be a port number 0–65535, got ${JSON.stringify(text)}`);
  return port;
}

const TRANSPORT_NAMES = {
  http1: 'HTTP/1.1',
  tls: 'HTTPS (HTTP/2, HTTP/1.1 for clients without it)',
  h2: 'HTTPS (HTTP/2 only)',
  h2c: 'cleartext HTTP/2 (h2c, prior knowledge: for a proxy in front, not for browsers)',
} as const;

/** Runs the demo until `stop` aborts; what `chord-sync serve` runs with SIGINT/SIGTERM as `stop`. */
export async function runServe(args: string[], io: CliIo, stop: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      url: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      http2: { type: 'boolean' },
    },
    allowPositionals: false,
  });
  let port: number;
  let transport: DemoTransport;
  try {
    port = parsePort(values.port);
    transport = demoTransport({ tlsCert: values['tls-cert'], tlsKey: values['tls-key'], http2: values.http2 });
  } catch (error) {
    io.err(`chord-sync serve: ${(error as Error).message}`);
    return 2;
  }
  return exitCodeOf('serve', io, async () => {
    const storage = await openBackend(values.url ?? io.env.DATABASE_URL, io);
    try {
      const chord = new Chord({ backend: storage.backend, watchPollMs: 250 });
      const demo = await startDemoServer({ chord, port, host: values.host ?? DEFAULT_SERVE_HOST, transport });
      io.out(`chord-sync serve: a live board on ${storage.description}, over ${TRANSPORT_NAMES[transport.kind === 'tls' && transport.http2Only ? 'h2' : transport.kind]}`);
      io.out(`open ${demo.url}/ in two windows; Ctrl-C stops`);
      await new Promise<void>((resolve) => {
        if (stop.aborted) resolve();
        else stop.addEventListener('abort', () => resolve(), { once: true });
      });
      await demo.close();
      io.out('chord-sync serve: stopped');
      return 0;
    } finally {
      await storage.close();
    }
  });
}

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'a live demo: a sticky-note board shared by every browser window, over SSE',
  usage: `Usage: chord-sync serve [--port <n>] [--host <address>] [--url <postgresql://…>]
                        [--tls-cert <cert.pem> --tls-key <key.pem>] [--http2]

Serves a page where every open window shares one live context (a sticky-note board) through
chord-sync/client, the SSE route of chord-sync/http at /contexts/, and a small POST route for
the page's writes. Keeps the board in memory, or on PostgreSQL (migrated first) when --url or
DATABASE_URL is given. Listens on ${DEFAULT_SERVE_HOST}:${DEFAULT_SERVE_PORT} by default (--port 0: any free port)
and runs until Ctrl-C.

  --tls-cert F --tls-key F  HTTPS with this PEM certificate and key: HTTP/2 for browsers (one
                            connection carries every stream), HTTP/1.1 for clients without it
  --http2                   HTTP/2 only: with TLS, refuses clients that offer only HTTP/1.1;
                            without TLS, cleartext HTTP/2 (h2c) for a proxy in front, which
                            browsers do not speak`,

  async run(args, io) {
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await runServe(args, io, stop.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
