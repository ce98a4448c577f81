/**
 * Fan-out: N clients on real HTTP/SSE connections (127.0.0.1, one process), one context written
 * R times a second. Per write: the time until every client has applied it (p50, p99 over the
 * writes); CPU of the whole process (server and clients) per client per update; bytes the server
 * sent. chord-sync (Chord + createSyncHandler + ChordClient: one merged delta per change) against
 * a hand-written SSE broadcaster that sends the whole context to every client on every change,
 * read by a hand-written client (the same SSE line parser, JSON.parse of each context).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Chord, type JsonObject } from 'chord-sync';
import { ChordClient, SseParser } from 'chord-sync/client';
import { createSyncHandler, toNodeHandler } from 'chord-sync/http';

export interface FanoutOptions {
  readonly clients: number;
  /** Writes per second. */
  readonly rate: number;
  /** Writes per round. */
  readonly writes: number;
  /** Rounds per side, alternating sides (chord-sync first in odd rounds). */
  readonly rounds: number;
  /** Only the side whose label contains this (for profiling one side); the table then has one row. */
  readonly only?: string;
}

export const DEFAULT_FANOUT: FanoutOptions = { clients: 1000, rate: 10, writes: 50, rounds: 3 };

const CONTEXT_ID = 'board:fanout';
const NOTES = 100;
const SETTLE_TIMEOUT_MS = 300_000;
const CONNECT_BATCH = 100;

type Note = { text: string; x: number; y: number; color: string };

function initialBoard(): { title: string; notes: Record<string, Note> } {
  const notes: Record<string, Note> = {};
  for (let i = 0; i < NOTES; i++) notes[`note${i}`] = { text: `note ${i}: something to remember`, x: (i % 10) * 180, y: Math.floor(i / 10) * 130, color: '#fff8c5' };
  return { title: 'Fan-out board', notes };
}

/** The w-th write: one note moves and is re-worded (the same change on both sides). */
function change(w: number): { id: string; note: Note } {
  const i = (w * 37) % NOTES;
  return { id: `note${i}`, note: { text: `note ${i}: edited at write ${w}`, x: (w * 13) % 1600, y: (w * 7) % 1200, color: '#ddf4ff' } };
}

/** Tracks, per version, when every client had reached it. */
class Arrivals {
  readonly #clients: number;
  readonly #reached = new Map<number, number>();
  readonly doneAt = new Map<number, number>();

  constructor(clients: number) {
    this.#clients = clients;
  }

  /** A client moved from version `from` to `to`. */
  moved(from: number, to: number): void {
    const now = performance.now();
    for (let v = from + 1; v <= to; v++) {
      const count = (this.#reached.get(v) ?? 0) + 1;
      this.#reached.set(v, count);
      if (count === this.#clients) this.doneAt.set(v, now);
    }
  }
}

interface Side {
  readonly label: string;
  /** Starts the server and connects the clients; resolves once every client holds the first state. */
  start(clients: number, arrivals: () => Arrivals): Promise<void>;
  /** Makes write `w` (version w + 1 on both sides). */
  write(w: number): Promise<number>;
  /** Bytes the server's sockets have written so far. */
  bytesSent(): number;
  stop(): Promise<void>;
}

function trackSockets(server: Server): { sockets: Set<Socket>; bytes(): number } {
  const sockets = new Set<Socket>();
  let closedBytes = 0;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      closedBytes += socket.bytesWritten;
      sockets.delete(socket);
    });
  });
  return { sockets, bytes: () => closedBytes + [...sockets].reduce((sum, s) => sum + s.bytesWritten, 0) };
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.destroy();
  await closed;
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`fan-out bench: ${what} not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function chordSide(): Side {
  let chord: Chord;
  let server: Server;
  let tracked: ReturnType<typeof trackSockets>;
  let clients: ChordClient[] = [];
  return {
    label: 'chord-sync',
    async start(count, arrivals) {
      chord = new Chord();
      await chord.setContext(CONTEXT_ID, initialBoard());
      server = createServer(toNodeHandler(createSyncHandler(chord)));
      tracked = trackSockets(server);
      const url = await listen(server);
      clients = [];
      for (let i = 0; i < count; i++) {
        const client = new ChordClient({ url: `${url}/contexts`, contextId: CONTEXT_ID });
        let held = 0;
        client.subscribe((state) => {
          if (state === null) return;
          if (held > 0) arrivals().moved(held, state.version);
          held = state.version;
        });
        clients.push(client);
        // In batches: a thousand connects at once overflow the listen backlog, and the retries would time the setup, not the fan-out.
        if (clients.length % CONNECT_BATCH === 0 || i === count - 1) {
          await until(() => clients.every((c) => c.state?.version === 1), SETTLE_TIMEOUT_MS, 'every chord-sync client connected');
        }
      }
    },
    async write(w) {
      const { id, note } = change(w);
      const { context } = await chord.updateContext(CONTEXT_ID, { notes: { [id]: { ...note } } });
      return context.version;
    },
    bytesSent: () => tracked.bytes(),
    async stop() {
      for (const client of clients) client.close();
      await closeServer(server, tracked.sockets);
    },
  };
}

/** The hand-written broadcaster: the whole context to every open response on every change. */
function referenceSide(): Side {
  let board: ReturnType<typeof initialBoard>;
  let version = 1;
  let server: Server;
  let tracked: ReturnType<typeof trackSockets>;
  const streams = new Set<ServerResponse>();
  const aborts: AbortController[] = [];
  const frame = (): string => `event: full\nid: ${version}\ndata: ${JSON.stringify({ version, context: board })}\n\n`;
  return {
    label: 'whole-context SSE',
    async start(count, arrivals) {
      board = initialBoard();
      version = 1;
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(frame());
        streams.add(res);
        req.once('close', () => streams.delete(res));
      });
      tracked = trackSockets(server);
      const url = await listen(server);
      const versions: number[] = [];
      for (let i = 0; i < count; i++) {
        if (i > 0 && i % CONNECT_BATCH === 0) await until(() => versions.every((v) => v === 1), SETTLE_TIMEOUT_MS, 'every reference client connected');
        const abort = new AbortController();
        aborts.push(abort);
        versions.push(0);
        void (async () => {
          try {
            const response = await fetch(`${url}/`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
            const reader = response.body!.getReader();
            const decoder = new TextDecoder();
            let held = 0;
            const parser = new SseParser((event) => {
              const message = JSON.parse(event.data) as { version: number; context: JsonObject };
              if (held > 0) arrivals().moved(held, message.version);
              held = message.version;
              versions[i] = held;
            });
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              parser.push(decoder.decode(value, { stream: true }));
            }
          } catch {
            // aborted at stop()
          }
        })();
      }
      await until(() => versions.every((v) => v === 1), SETTLE_TIMEOUT_MS, 'every reference client connected');
    },
    async write(w) {
      const { id, note } = change(w);
      board = { ...board, notes: { ...board.notes, [id]: note } };
      version++;
      const text = frame();
      for (const res of streams) res.write(text);
      return version;
    },
    bytesSent: () => tracked.bytes(),
    async stop() {
      for (const abort of aborts.splice(0)) abort.abort();
      streams.clear();
      await closeServer(server, tracked.sockets);
    },
  };
}

interface RoundResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsPerClientUpdate: number;
  readonly bytesPerUpdate: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function runRound(side: Side, options: FanoutOptions): Promise<RoundResult> {
  let arrivals = new Arrivals(options.clients);
  await side.start(options.clients, () => arrivals);
  try {
    arrivals = new Arrivals(options.clients);
    const writtenAt = new Map<number, number>();
    const bytesBefore = side.bytesSent();
    const cpuBefore = process.cpuUsage();
    const interval = 1000 / options.rate;
    const started = performance.now();
    let last = 1;
    for (let w = 1; w <= options.writes; w++) {
      // A fixed schedule: a late write is not pushed back further (that would lower the load).
      const due = started + (w - 1) * interval;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const at = performance.now();
      last = await side.write(w);
      writtenAt.set(last, at);
    }
    await until(() => arrivals.doneAt.has(last), SETTLE_TIMEOUT_MS, `${side.label}: every client at the last write`);
    const cpu = process.cpuUsage(cpuBefore);
    const bytes = side.bytesSent() - bytesBefore;
    const latencies = [...writtenAt].map(([version, at]) => arrivals.doneAt.get(version)! - at).sort((a, b) => a - b);
    return {
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      cpuUsPerClientUpdate: (cpu.user + cpu.system) / (options.clients * options.writes),
      bytesPerUpdate: bytes / options.writes,
    };
  } finally {
    await side.stop();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes.toFixed(0)} B`;
}

/** Runs the fan-out comparison; returns a Markdown table (medians over the rounds) and the ratios. */
export async function runFanout(options: FanoutOptions, log: (line: string) => void): Promise<string> {
  const results: Record<string, RoundResult[]> = { 'chord-sync': [], 'whole-context SSE': [] };
  for (let round = 1; round <= options.rounds; round++) {
    const sides = round % 2 === 1 ? [chordSide(), referenceSide()] : [referenceSide(), chordSide()];
    for (const side of sides.filter((s) => options.only === undefined || s.label.includes(options.only))) {
      log(`fan-out: round ${round}/${options.rounds}, ${side.label}, ${options.clients} clients, ${options.writes} writes at ${options.rate}/s`);
      results[side.label]!.push(await runRound(side, options));
      // Let sockets of the finished side close before the next starts.
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  if (options.only !== undefined) {
    const [label, rounds] = Object.entries(results).find(([, r]) => r.length > 0)!;
    const r = rounds[0]!;
    return `${label}: p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, ${r.cpuUsPerClientUpdate.toFixed(1)} µs CPU per client per update, ${formatBytes(r.bytesPerUpdate)} per update`;
  }
  const summary = (label: string) => {
    const rounds = results[label]!;
    return {
      p50: median(rounds.map((r) => r.p50Ms)),
      p99: median(rounds.map((r) => r.p99Ms)),
      cpu: median(rounds.map((r) => r.cpuUsPerClientUpdate)),
      bytes: median(rounds.map((r) => r.bytesPerUpdate)),
    };
  };
  const ours = summary('chord-sync');
  const theirs = summary('whole-context SSE');
  const row = (label: string, s: typeof ours) =>
    `| ${label} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.cpu.toFixed(1)} | ${formatBytes(s.bytes)} |`;
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  return [
    '| side | write → all applied, p50 (ms) | p99 (ms) | CPU per client per update (µs) | bytes sent per update |',
    '| --- | ---: | ---: | ---: | ---: |',
    row('chord-sync (one merged delta)', ours),
    row('whole-context SSE broadcaster', theirs),
    `| ratio chord-sync ÷ broadcaster | ${ratio(ours.p50, theirs.p50)} | ${ratio(ours.p99, theirs.p99)} | ${ratio(ours.cpu, theirs.cpu)} | ${ratio(ours.bytes, theirs.bytes)} |`,
  ].join('\n');
}
