/**
 * Writes from clients: how long from a client's `update()` until every other client has applied
 * it, beside the read-only fan-out (the same change made on the server with
 * `chord.updateContext`). The server (Chord on memory + createSyncHandler with authorizeWrite)
 * and the writing client run in this process; the receiving clients run in `processes` child
 * processes (bench/sections/writes-worker.ts), so their work does not slow the server's event
 * loop. Each write puts a mark w (1, 2, 3…) in the context; a worker reports w once all its
 * clients hold a state with mark ≥ w, and a write counts as applied by all when every worker has
 * reported it (the report's IPC hop is in both rows alike).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Chord } from 'chord-sync';
import { ChordClient } from 'chord-sync/client';
import { createSyncHandler, toNodeHandler } from 'chord-sync/http';

export interface WritesBenchOptions {
  /** Receiving clients, per table row pair. */
  readonly clientCounts: readonly number[];
  /** Child processes the receiving clients are spread over. */
  readonly processes: number;
  /** Writes per second. */
  readonly rate: number;
  /** Writes per round. */
  readonly writes: number;
  /** Rounds per side and client count, alternating which side goes first. */
  readonly rounds: number;
}

export const DEFAULT_WRITES_BENCH: WritesBenchOptions = { clientCounts: [100, 1000], processes: 4, rate: 10, writes: 50, rounds: 3 };

const CONTEXT_ID = 'board:writes';
const NOTES = 100;
const SETTLE_TIMEOUT_MS = 300_000;

type Note = { text: string; x: number; y: number; color: string };

function initialBoard(): { title: string; mark: number; notes: Record<string, Note> } {
  const notes: Record<string, Note> = {};
  for (let i = 0; i < NOTES; i++) notes[`note${i}`] = { text: `note ${i}: something to remember`, x: (i % 10) * 180, y: Math.floor(i / 10) * 130, color: '#fff8c5' };
  return { title: 'Writes board', mark: 0, notes };
}

/** The w-th write: one note moves and is re-worded, and the mark goes to w (the same change on both sides). */
function change(w: number): { mark: number; notes: Record<string, Note> } {
  const i = (w * 37) % NOTES;
  return { mark: w, notes: { [`note${i}`]: { text: `note ${i}: edited at write ${w}`, x: (w * 13) % 1600, y: (w * 7) % 1200, color: '#ddf4ff' } } };
}

type Side = 'server updateContext' | 'client update()';

interface Round {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`writes bench: ${what} not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function runRound(side: Side, clients: number, options: WritesBenchOptions): Promise<Round> {
  const chord = new Chord();
  await chord.setContext(CONTEXT_ID, initialBoard());
  const server: Server = createServer(toNodeHandler(createSyncHandler(chord, { authorizeWrite: () => true })));
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/contexts`;

  const workers: ChildProcess[] = [];
  const reported = new Map<number, number>(); // mark → workers that reported it
  const doneAt = new Map<number, number>();
  let ready = 0;
  const writer = side === 'client update()' ? new ChordClient({ url, contextId: CONTEXT_ID }) : undefined;
  try {
    const processes = Math.min(options.processes, clients);
    for (let p = 0; p < processes; p++) {
      const share = Math.floor(clients / processes) + (p < clients % processes ? 1 : 0);
      const worker = fork(new URL('./writes-worker.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      worker.on('message', (message: { kind: string; mark?: number }) => {
        if (message.kind === 'ready') ready++;
        if (message.kind === 'applied') {
          const count = (reported.get(message.mark!) ?? 0) + 1;
          reported.set(message.mark!, count);
          if (count === processes) doneAt.set(message.mark!, performance.now());
        }
      });
      worker.send({ kind: 'start', url, contextId: CONTEXT_ID, clients: share });
      workers.push(worker);
    }
    await until(() => ready === processes && (writer === undefined || writer.confirmed !== null), SETTLE_TIMEOUT_MS, `${clients} clients connected`);

    const startedAt = new Map<number, number>();
    const interval = 1000 / options.rate;
    const started = performance.now();
    const confirmations: Array<Promise<unknown>> = [];
    for (let w = 1; w <= options.writes; w++) {
      // A fixed schedule: a late write is not pushed back further (that would lower the load).
      const wait = started + (w - 1) * interval - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      startedAt.set(w, performance.now());
      if (writer === undefined) await chord.updateContext(CONTEXT_ID, change(w));
      else confirmations.push(writer.update(change(w)));
    }
    await Promise.all(confirmations);
    await until(() => doneAt.has(options.writes), SETTLE_TIMEOUT_MS, `${side}: every client at the last write`);
    const latencies = [...startedAt].map(([w, at]) => doneAt.get(w)! - at).sort((a, b) => a - b);
    return { p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
  } finally {
    writer?.close();
    for (const worker of workers) {
      if (worker.connected) worker.send({ kind: 'stop' });
    }
    await Promise.all(workers.map((worker) => (worker.exitCode !== null ? undefined : new Promise((resolve) => worker.once('exit', resolve)))));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  }
}

/** Runs the writes comparison; returns a Markdown table (medians over the rounds) with the ratios. */
export async function runWritesBench(options: WritesBenchOptions, log: (line: string) => void): Promise<string> {
  const lines = [
    '| clients | write made by | write → every other client applied it, p50 (ms) | p99 (ms) |',
    '| ---: | --- | ---: | ---: |',
  ];
  for (const clients of options.clientCounts) {
    const results: Record<Side, Round[]> = { 'server updateContext': [], 'client update()': [] };
    for (let round = 1; round <= options.rounds; round++) {
      const sides: Side[] = round % 2 === 1 ? ['server updateContext', 'client update()'] : ['client update()', 'server updateContext'];
      for (const side of sides) {
        log(`writes: round ${round}/${options.rounds}, ${side}, ${clients} clients in ${options.processes} processes, ${options.writes} writes at ${options.rate}/s`);
        results[side].push(await runRound(side, clients, options));
      }
    }
    const summary = (side: Side) => ({ p50: median(results[side].map((r) => r.p50Ms)), p99: median(results[side].map((r) => r.p99Ms)) });
    const server = summary('server updateContext');
    const client = summary('client update()');
    lines.push(`| ${clients} | server \`chord.updateContext\` (read-only fan-out) | ${server.p50.toFixed(1)} | ${server.p99.toFixed(1)} |`);
    lines.push(`| ${clients} | a client's \`update()\` (POST, then fan-out) | ${client.p50.toFixed(1)} | ${client.p99.toFixed(1)} |`);
    lines.push(`| ${clients} | ratio client ÷ server | ${(client.p50 / server.p50).toFixed(2)} | ${(client.p99 / server.p99).toFixed(2)} |`);
  }
  return lines.join('\n');
}
