/**
 * Shared by the HTTP and client tests: a real node:http server around a sync handler on
 * 127.0.0.1, an SSE reader with bounded waits, and bounded polling.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SseParser, type SseEvent } from '../../src/client/sse-parser.js';
import { type SyncHandler, toNodeHandler } from '../../src/http/index.js';
import { serverUrl } from '../support/database.js';
import { type BackendTarget, databaseChoice, memoryTarget, prismaTargets } from '../support/targets.js';

/** A running server; `close()` ends every open connection (SSE streams included). */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1 at `port` (0: any free port). */
export async function startServer(handler: SyncHandler, port = 0): Promise<TestServer> {
  const server = createServer(toNodeHandler(handler));
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** `promise`, or a rejection naming `what` after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 10 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What an SSE response delivered so far: raw text, events, and comment lines. */
export interface SseReader {
  readonly events: SseEvent[];
  readonly comments: string[];
  /** All bytes received, decoded. */
  text(): string;
  /** Resolves once `count` events arrived (bounded by `ms`). */
  waitForEvents(count: number, ms?: number): Promise<SseEvent[]>;
  /** Resolves once the server ended the body (bounded by `ms`). */
  ended(ms?: number): Promise<void>;
  cancel(): Promise<void>;
}

/** Reads an SSE body in the background. */
export function readSse(response: Response): SseReader {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let raw = '';
  let finished = false;
  const parser = new SseParser((event) => events.push(event));
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const done = (async () => {
    try {
      for (;;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        const text = decoder.decode(value, { stream: true });
        raw += text;
        for (const line of text.split('\n')) if (line.startsWith(':')) comments.push(line);
        parser.push(text);
      }
    } catch {
      // cancelled or broken: the tests look at what arrived
    } finally {
      finished = true;
    }
  })();
  return {
    events,
    comments,
    text: () => raw,
    async waitForEvents(count, ms = 10_000) {
      await waitFor(() => events.length >= count || finished, ms, `${count} SSE events (got ${events.length})`);
      if (events.length < count) throw new Error(`stream ended after ${events.length} of ${count} events`);
      return events.slice(0, count);
    },
    async ended(ms = 10_000) {
      await within(done, ms, 'the SSE stream to end');
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      await within(done, 5_000, 'the SSE reader to stop');
    },
  };
}

/**
 * The backends the HTTP and client suites run on: memory, and PostgreSQL when the run has a
 * server (DATABASE_URL), else PGlite in-process. (The caller's-Prisma-client and PGlite-socket
 * variants differ below the engine only; the engine's own suites cover them.)
 */
export function liveTargets(): BackendTarget[] {
  // Only the database used is asked for, so a run with a server starts no PGlite here.
  const onServer = serverUrl(databaseChoice()) !== undefined;
  const database = prismaTargets({ database: onServer ? 'postgres' : 'pglite' }).find((t) => t.name === (onServer ? 'prisma/postgres' : 'prisma/pglite'));
  return [memoryTarget(), ...(database === undefined ? [] : [database])];
}

/** Per-test timeout for tests that make a database backend: PGlite's start and a migration are slow on a busy machine. */
export const DATABASE_TEST_TIMEOUT_MS = 240_000;
