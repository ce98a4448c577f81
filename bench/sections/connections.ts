/**
 * Many contexts per client (issue 20): N clients × K contexts each on real HTTP (127.0.0.1), the
 * clients in P separate processes (connection-clients.ts), the server (Chord on MemoryBackend,
 * createSyncHandler, node:http) in this one. Side by side in one run:
 *   - ChordConnection: one multiplexed SSE stream per client;
 *   - ChordClient × K: one SSE stream per context per client.
 * C contexts in all, client i following contexts (i·K + k) mod C, so each context has N·K/C
 * followers. Reported per side: streams open at the server; server memory per client (heap and
 * RSS after a forced GC, all clients connected, minus before any); W updates written at R/s over
 * the contexts in turn, and this process's CPU (server and writer) per update applied by a client.
 * Needs `ulimit -n` ≥ N·K + some (each stream is a socket on both ends).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Chord } from 'chord-sync';
import { createSyncHandler, toNodeHandler } from 'chord-sync/http';
import { formatRatio, markdownTable } from '../lib/measure.js';

export interface ConnectionsOptions {
  readonly clients: number;
  readonly contextsPerClient: number;
  /** Contexts in all. */
  readonly contexts: number;
  /** Client processes. */
  readonly processes: number;
  /** Updates written per side. */
  readonly writes: number;
  /** Updates written per second. */
  readonly rate: number;
}

export const DEFAULT_CONNECTIONS: ConnectionsOptions = { clients: 1000, contextsPerClient: 10, contexts: 100, processes: 4, writes: 200, rate: 20 };

const CHILD = fileURLToPath(new URL('./connection-clients.js', import.meta.url));
/** Bounds of the waits, generous: on a loaded machine connecting 10,000 streams takes long. */
const READY_TIMEOUT_MS = 1_800_000;
const SETTLE_TIMEOUT_MS = 300_000;

type Mode = 'connection' | 'clients';

interface SideResult {
  readonly label: string;
  readonly streams: number;
  readonly connectS: number;
  readonly heapPerClient: number;
  readonly rssPerClient: number;
  readonly applied: number;
  readonly cpuUsPerUpdate: number;
  readonly settleS: number;
}

interface Child {
  readonly process: ChildProcess;
  readonly lines: AsyncIterator<string>;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (collect === undefined) throw new Error('run with node --expose-gc (npm run bench does)');
  collect();
  collect();
}

async function nextLine(child: Child, ms: number, what: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      child.lines.next(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
    if (result.done === true) throw new Error(`${what}: the client process ended`);
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function runSide(mode: Mode, options: ConnectionsOptions, log: (line: string) => void): Promise<SideResult> {
  const label = mode === 'connection' ? 'ChordConnection (one stream per client)' : `ChordClient × ${options.contextsPerClient} (one stream per context)`;
  const chord = new Chord();
  const ids = Array.from({ length: options.contexts }, (_, c) => `ctx:${c}`);
  for (const id of ids) await chord.setContext(id, { n: 0, label: id });
  const handler = createSyncHandler(chord, { maxStreams: options.clients * options.contextsPerClient + 1000, onError: () => {} });
  const server = createServer(toNodeHandler(handler));
  server.maxConnections = Number.POSITIVE_INFINITY;
  const sockets = new Set<Socket>();
  let streams = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (request, response) => {
    if (!String(request.headers.accept).includes('text/event-stream')) return;
    streams++;
    response.once('close', () => streams--);
  });
  const port = await listen(server);
  const children: Child[] = [];
  try {
    gc();
    const before = process.memoryUsage();
    const connectStarted = performance.now();
    const perProcess = Math.ceil(options.clients / options.processes);
    for (let p = 0; p < options.processes; p++) {
      const first = p * perProcess;
      const count = Math.min(perProcess, options.clients - first);
      const args = { url: `http://127.0.0.1:${port}/contexts`, mode, first, count, contextsPerClient: options.contextsPerClient, contexts: options.contexts };
      const child = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push({ process: child, lines: createInterface({ input: child.stdout! })[Symbol.asyncIterator]() });
    }
    for (const [p, child] of children.entries()) {
      const line = await nextLine(child, READY_TIMEOUT_MS, `client process ${p} ready`);
      if (line !== 'ready') throw new Error(`client process ${p}: ${line}`);
    }
    const connectS = (performance.now() - connectStarted) / 1000;
    log(`${label}: ${options.clients} clients ready in ${connectS.toFixed(1)} s, ${streams} streams open`);
    gc();
    const after = process.memoryUsage();
    const openStreams = streams;

    const cpuBefore = process.cpuUsage();
    const writesStarted = performance.now();
    const finals: Record<string, number> = {};
    for (let w = 0; w < options.writes; w++) {
      const id = ids[w % ids.length]!;
      const { context } = await chord.updateContext(id, { n: w + 1 });
      finals[id] = context.version;
      const due = writesStarted + ((w + 1) * 1000) / options.rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    for (const child of children) child.process.stdin!.write(`${JSON.stringify(finals)}\n`);
    let applied = 0;
    for (const [p, child] of children.entries()) {
      applied += (JSON.parse(await nextLine(child, SETTLE_TIMEOUT_MS, `client process ${p} to settle`)) as { applied: number }).applied;
    }
    const cpu = process.cpuUsage(cpuBefore);
    const settleS = (performance.now() - writesStarted) / 1000;
    log(`${label}: ${applied} updates applied in ${settleS.toFixed(1)} s`);
    return {
      label,
      streams: openStreams,
      connectS,
      heapPerClient: (after.heapUsed - before.heapUsed) / options.clients,
      rssPerClient: (after.rss - before.rss) / options.clients,
      applied,
      cpuUsPerUpdate: (cpu.user + cpu.system) / applied,
      settleS,
    };
  } finally {
    for (const child of children) child.process.kill('SIGKILL');
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
  }
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** Runs both sides (ChordConnection first) and returns the table with ChordClient × K / ChordConnection ratios. */
export async function runConnections(options: ConnectionsOptions, log: (line: string) => void): Promise<string> {
  const connection = await runSide('connection', options, log);
  const clients = await runSide('clients', options, log);
  const rows = [connection, clients].map((r) => [
    r.label,
    String(r.streams),
    kib(r.heapPerClient),
    kib(r.rssPerClient),
    String(r.applied),
    `${r.cpuUsPerUpdate.toFixed(1)} µs`,
    `${r.connectS.toFixed(1)} s`,
  ]);
  rows.push([
    `ratio (ChordClient × ${options.contextsPerClient} / ChordConnection)`,
    formatRatio(clients.streams / connection.streams),
    formatRatio(clients.heapPerClient / connection.heapPerClient),
    formatRatio(clients.rssPerClient / connection.rssPerClient),
    '',
    formatRatio(clients.cpuUsPerUpdate / connection.cpuUsPerUpdate),
    '',
  ]);
  return markdownTable(
    ['side', 'streams open', 'server heap / client', 'server RSS / client', 'updates applied', 'server CPU / update', 'all connected in'],
    rows,
    [false, true, true, true, true, true, true],
  );
}
