// A PostgreSQL restart, and a crash (SIGKILL of the postmaster), under concurrent writers: the
// same Chord engine and PrismaBackend go on without restarting the process, errors during the
// outage are typed, and no version is half written or lost once acknowledged.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { Chord } from '../../src/engine/index.js';
import { ChordError } from '../../src/errors.js';
import type { DisposablePostgres } from '../support/disposable-postgres.js';
import { type Tally, count, expectWholeHistory, freshSchema, missingBinaries, startServer } from './support.js';

const CONTEXTS = 4;
const WRITERS = 8;
/** How long the server stays down between stop (or kill) and start. */
const OUTAGE_MS = 1_000;

interface Writer {
  readonly key: string;
  readonly contextId: string;
  readonly acknowledged: number[];
  readonly failed: number[];
}

interface Run {
  readonly writers: Writer[];
  /**
   * Outcomes by code ('ok' for success): before the fault; while the server is down (from the
   * fault until start returns; successes here are answers to writes committed before it); after.
   */
  readonly before: Tally;
  readonly down: Tally;
  readonly up: Tally;
  readonly untyped: unknown[];
}

describe.skipIf(missingBinaries !== undefined)(`PostgreSQL restart and crash under load${missingBinaries ? ` (skipped: ${missingBinaries})` : ''}`, () => {
  let server: DisposablePostgres;

  beforeAll(async () => {
    server = (await startServer()) as DisposablePostgres;
  });

  afterAll(() => {
    server?.dispose();
  });

  async function underLoad(fault: () => void): Promise<Run & { failedButStored: number; serverDownMs: number; failingWindowMs: number; startToFirstSuccessMs: number }> {
    const { schema, drop } = await freshSchema(server.url);
    const backend = new PrismaBackend({ connectionString: server.url, schema, poolSize: 6, connectTimeoutMs: 2_000 });
    try {
      const chord = new Chord({ backend });
      for (let c = 0; c < CONTEXTS; c++) await chord.setContext(`ctx${c}`, {});
      const writers: Writer[] = Array.from({ length: WRITERS }, (_, i) => ({
        key: `w${i}`,
        contextId: `ctx${i % CONTEXTS}`,
        acknowledged: [],
        failed: [],
      }));
      const run: Run = { writers, before: {}, down: {}, up: {}, untyped: [] };
      let phase: 'before' | 'down' | 'up' = 'before';
      let firstSuccessAfterStart: number | undefined;
      let firstErrorAfterFault: number | undefined;
      let running = true;

      const loop = async (w: Writer): Promise<void> => {
        for (let attempt = 1; running; attempt++) {
          try {
            await chord.updateContext(w.contextId, { [w.key]: attempt });
            w.acknowledged.push(attempt);
            if (phase === 'up') firstSuccessAfterStart ??= performance.now();
            count(run[phase], 'ok');
          } catch (error) {
            w.failed.push(attempt);
            if (phase !== 'before') firstErrorAfterFault ??= performance.now();
            if (error instanceof ChordError) count(run[phase], error.code);
            else run.untyped.push(error);
            await sleep(20);
          }
        }
      };
      const loops = writers.map(loop);

      await sleep(500);
      phase = 'down';
      const faultAt = performance.now();
      fault();
      await sleep(OUTAGE_MS);
      server.start();
      phase = 'up';
      const startedAt = performance.now();
      for (let i = 0; i < 300 && firstSuccessAfterStart === undefined; i++) await sleep(100);
      await sleep(500);
      running = false;
      await Promise.all(loops);

      expect(run.untyped, 'every error is a ChordError').toEqual([]);
      for (const tally of [run.before, run.down, run.up]) {
        for (const code of Object.keys(tally)) expect(['ok', 'unavailable', 'conflict']).toContain(code);
      }
      expect(run.before.ok, 'writes succeed before the fault').toBeGreaterThan(0);
      expect(run.down.unavailable, 'the outage is reported as unavailable').toBeGreaterThan(0);
      expect(run.up.ok, 'writes resume on the same engine and backend').toBeGreaterThan(0);

      // A write whose connection broke after the commit reports unavailable yet is stored; counted, not hidden.
      let failedButStored = 0;
      for (let c = 0; c < CONTEXTS; c++) {
        const states = await expectWholeHistory(backend, `ctx${c}`);
        for (const w of writers.filter((x) => x.contextId === `ctx${c}`)) {
          // The values this writer's key took, version by version.
          const taken: number[] = [];
          for (const state of states) {
            const v = state[w.key];
            if (typeof v === 'number' && v !== taken.at(-1)) taken.push(v);
          }
          expect(taken, `${w.key}: its writes landed in the order it made them`).toEqual([...taken].sort((a, b) => a - b));
          for (const a of w.acknowledged) expect(taken, `${w.key}: acknowledged write ${a} is stored`).toContain(a);
          const made = new Set([...w.acknowledged, ...w.failed]);
          for (const t of taken) expect(made.has(t), `${w.key}: stored value ${t} was written by it`).toBe(true);
          failedButStored += w.failed.filter((f) => taken.includes(f)).length;
        }
      }
      return {
        ...run,
        failedButStored,
        serverDownMs: Math.round(startedAt - faultAt),
        failingWindowMs: Math.round((firstSuccessAfterStart ?? NaN) - (firstErrorAfterFault ?? NaN)),
        startToFirstSuccessMs: Math.round((firstSuccessAfterStart ?? NaN) - startedAt),
      };
    } finally {
      await backend.close();
      await drop();
    }
  }

  function report(name: string, run: Awaited<ReturnType<typeof underLoad>>): void {
    console.log(
      `reliability figures: ${name}: ${JSON.stringify({
        before: run.before,
        down: run.down,
        up: run.up,
        failedButStored: run.failedButStored,
        serverDownMs: run.serverDownMs,
        failingWindowMs: run.failingWindowMs,
        startToFirstSuccessMs: run.startToFirstSuccessMs,
      })}`,
    );
  }

  test('restart (fast shutdown, 1 s down, start): typed errors, writes resume, histories whole, acknowledged writes kept', async () => {
    report('restart', await underLoad(() => server.stop()));
  });

  test('crash (SIGKILL of the postmaster, 1 s down, start with recovery): typed errors, writes resume, histories whole, acknowledged writes kept', async () => {
    report('kill', await underLoad(() => server.kill()));
  });
});
