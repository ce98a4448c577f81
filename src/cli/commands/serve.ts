import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChordBackend } from '../../backend.js';
import { MemoryBackend } from '../../backends/memory/memory-backend.js';
import { unset } from '../../delta/index.js';
import { Chord } from '../../engine/index.js';
import { ValidationError } from '../../errors.js';
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
/** A note write is small: a body past this is refused (413) unread. */
const MAX_WRITE_BYTES = 4096;
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

interface Note {
  text: string;
  x: number;
  y: number;
  color: string;
  by?: string;
}

const NOTE_FIELDS = new Set(['text', 'x', 'y', 'color', 'by']);

/** Whether `value` is a note the board accepts; the page is not trusted. */
function isNote(value: unknown): value is Note {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const n = value as Record<string, unknown>;
  if (!Object.keys(n).every((key) => NOTE_FIELDS.has(key))) return false;
  if (typeof n.text !== 'string' || n.text.length > 200) return false;
  for (const axis of ['x', 'y'] as const) {
    if (!Number.isSafeInteger(n[axis]) || Math.abs(n[axis] as number) > 100_000) return false;
  }
  if (typeof n.color !== 'string' || !NOTE_COLOR.test(n.color)) return false;
  return n.by === undefined || (typeof n.by === 'string' && n.by.length <= 40);
}

/**
 * The demo's write rule, as `authorizeWrite` of the sync route: only updates of the board that
 * add, change or remove (`unset`) one note, each a valid note, and at most {@link MAX_NOTES}
 * notes. Anything else is refused (403) and nothing is written.
 */
export function authorizeNoteWrite(chord: Chord): (request: Request, contextId: string, write: { readonly kind: string; readonly changes?: unknown }) => Promise<boolean> {
  return async (_request, contextId, write) => {
    if (contextId !== DEMO_BOARD_ID || write.kind !== 'update') return false;
    const changes = write.changes as Record<string, unknown>;
    if (Object.keys(changes).length !== 1 || changes.notes === null || typeof changes.notes !== 'object') return false;
    const entries = Object.entries(changes.notes as Record<string, unknown>);
    if (entries.length !== 1) return false;
    const [id, note] = entries[0]!;
    if (!NOTE_ID.test(id)) return false;
    if (note === unset) return true;
    if (!isNote(note)) return false;
    const board = await chord.getContext(DEMO_BOARD_ID);
    const notes = (board?.context.notes ?? {}) as Record<string, unknown>;
    return Object.hasOwn(notes, id) || Object.keys(notes).length < MAX_NOTES;
  };
}

/**
 * Serves the live demo: the page at `/`, the built client under `/lib/`, and the sync route under
 * `/contexts/` (SSE and JSON reads, and the page's writes as `POST`, from `chord-sync/http`, with
 * {@link authorizeNoteWrite} deciding which writes are allowed). Makes the shared board context if
 * it does not exist.
 */
export async function startDemoServer(config: DemoServerConfig): Promise<DemoServer> {
  const { chord } = config;
  const libRoot = config.libRoot ?? PACKAGE_LIB_ROOT;
  if ((await chord.getContext(DEMO_BOARD_ID)) === null) await chord.setContext(DEMO_BOARD_ID, { title: 'Live board', notes: {} });
  const sync = toNodeHandler(createSyncHandler(chord, { basePath: '/contexts', authorizeWrite: authorizeNoteWrite(chord), maxWriteBytes: MAX_WRITE_BYTES }));
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
        sendError(res, 404, 'not_found', `nothing at ${req.method} ${path}`);
      } catch {
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
chord-sync/client and the sync route of chord-sync/http at /contexts/: SSE for reads, POST for
the page's writes (shown at once, confirmed by the server). Keeps the board in memory, or on PostgreSQL (migrated first) when --url or
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
