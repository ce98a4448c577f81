import * as assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChordBackend, DeltaCount, ListOptions } from '../backend.js';
import type { CleanupReport } from '../engine/cleanup.js';
import type { CleanupSchedule } from '../engine/cleanup-schedule.js';
import { ValidationError } from '../errors.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { eventually, freshId, gate, seedOnly, storedDeltaVersions, withEngine } from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';

// These tests use short real intervals. They assert what happened (how many runs, in which order,
// overlapping or not), never how long anything took; the short sleeps only give a misbehaving
// scheduler the chance to show it.

/**
 * A seed-only view whose `listContextsWithDeltaCounts` (called once per cleanup run on an empty
 * store with the TTL steps off) goes through `hook` first, so a test can count, hold or fail runs.
 */
function hooked(hook: () => Promise<void>): (b: ChordBackend) => ChordBackend {
  return (b) =>
    seedOnly(b, {
      listContextsWithDeltaCounts: async (options?: ListOptions): Promise<DeltaCount[]> => {
        await hook();
        return b.listContextsWithDeltaCounts(options);
      },
    });
}

async function stopAll(schedules: CleanupSchedule[]): Promise<void> {
  await Promise.all(schedules.map((s) => s.stop()));
}

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/** startCleanup(): repeated runs, no overlap, stop, setInterval, setOptions, onError, unref'd timers. */
export function registerEngineSchedulerTests(api: SuiteApi, harness: BackendHarness, _options: EngineSuiteOptions = {}): void {
  const quiet = { deltaTtl: null, contextTtl: null } as const;

  api.describe('engine cleanup schedule', () => {
    api.test('runs cleanup again and again, reporting each run', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const reports: CleanupReport[] = [];
        const schedule = chord.startCleanup({ intervalMs: 1, onReport: (r) => void reports.push(r) });
        try {
          await eventually(() => reports.length >= 3, 'three cleanup runs');
        } finally {
          await schedule.stop();
        }
        for (const r of reports) assert.equal(r.deltasDeleted.total, 0);
      });
    });

    api.test('runs never overlap, however long one takes', async () => {
      let runs = 0;
      let active = 0;
      let maxActive = 0;
      let hold = gate();
      const hook = async () => {
        runs++;
        active++;
        maxActive = Math.max(maxActive, active);
        await hold.promise;
        active--;
      };
      await withEngine(harness, { ...quiet, wrap: hooked(hook) }, async ({ chord }) => {
        const schedule = chord.startCleanup({ intervalMs: 1 });
        try {
          await eventually(() => runs === 1, 'the first run to start');
          await sleep(40); // many intervals pass while the first run is held
          assert.equal(runs, 1, 'no second run may start while the first is in flight');
          hold.open();
          hold = { promise: Promise.resolve(), open: () => {} };
          await eventually(() => runs >= 4, 'later runs');
        } finally {
          hold.open();
          await schedule.stop();
        }
        assert.equal(maxActive, 1);
      });
    });

    api.test('stop() waits for the run in flight, and no run starts after it', async () => {
      let runs = 0;
      const hold = gate();
      const hook = async () => {
        runs++;
        await hold.promise;
      };
      await withEngine(harness, { ...quiet, wrap: hooked(hook) }, async ({ chord }) => {
        const schedule = chord.startCleanup({ intervalMs: 1 });
        let stopped = false;
        try {
          await eventually(() => runs === 1, 'a run to start');
          const stopping = schedule.stop().then(() => {
            stopped = true;
          });
          await sleep(20);
          assert.equal(stopped, false, 'stop() must wait for the run in flight');
          hold.open();
          await stopping;
          assert.equal(stopped, true);
          await sleep(20);
          assert.equal(runs, 1, 'no run after stop()');
          await schedule.stop(); // a second stop is harmless
        } finally {
          hold.open();
          await schedule.stop();
        }
      });
    });

    api.test('setInterval re-times a waiting schedule; bad intervals throw ValidationError', async () => {
      await withEngine(harness, quiet, async ({ chord }) => {
        let runs = 0;
        const schedule = chord.startCleanup({ intervalMs: 3_600_000, onReport: () => void runs++ });
        try {
          await sleep(20);
          assert.equal(runs, 0, 'an hour has not passed');
          for (const bad of [0, -5, 1.5, Number.NaN, 2 ** 31]) {
            assert.throws(() => schedule.setInterval(bad), (error: unknown) => {
              assert.ok(error instanceof ValidationError);
              assert.equal(error.argument, 'intervalMs');
              return true;
            });
          }
          schedule.setInterval(1);
          await eventually(() => runs >= 2, 'runs at the new interval');
          schedule.setInterval(3_600_000);
          const settled = runs;
          await sleep(30);
          assert.ok(runs <= settled + 1, `back to an hour: at most the run already in flight, got ${runs - settled} more`);
        } finally {
          await schedule.stop();
        }
      });
    });

    api.test('setOptions changes what the next runs do; bad options throw and keep the old ones', async () => {
      await withEngine(harness, { deltaTtl: null, deltaThreshold: 100 }, async ({ chord, backend }) => {
        const id = freshId();
        for (let i = 0; i < 3; i++) await chord.setContext(id, { i });
        const reports: CleanupReport[] = [];
        const schedule = chord.startCleanup({ intervalMs: 1, onReport: (r) => void reports.push(r) });
        try {
          await eventually(() => reports.length >= 2, 'runs with the first options');
          assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2, 3]);
          assert.throws(() => schedule.setOptions({ batchSize: 0 }), ValidationError);
          assert.throws(() => schedule.setOptions({ deltaTreshold: 0 } as never), ValidationError);
          schedule.setOptions({ deltaThreshold: 1 });
          await eventually(() => reports.some((r) => r.deltasDeleted.beyondThreshold === 2), 'a run with the new threshold');
          assert.deepEqual(await storedDeltaVersions(backend, id), [3]);
        } finally {
          await schedule.stop();
        }
      });
    });

    api.test('a failing run goes to onError and the schedule goes on', async () => {
      let calls = 0;
      const failures = [new Error('storage hiccup 1'), new Error('storage hiccup 2')];
      const hook = async () => {
        const failure = failures[calls++];
        if (failure !== undefined) throw failure;
      };
      await withEngine(harness, { ...quiet, wrap: hooked(hook) }, async ({ chord }) => {
        const errors: unknown[] = [];
        let reports = 0;
        const schedule = chord.startCleanup({
          intervalMs: 1,
          onError: (error) => void errors.push(error),
          onReport: () => void reports++,
        });
        try {
          await eventually(() => reports >= 2, 'successful runs after the failures');
        } finally {
          await schedule.stop();
        }
        assert.deepEqual(errors, failures);
      });
    });

    api.test('without onError, failures are logged with a clear prefix; an onError that throws does not stop the schedule', async () => {
      const logged: unknown[][] = [];
      const originalConsoleError = console.error;
      console.error = (...args: unknown[]) => void logged.push(args);
      const schedules: CleanupSchedule[] = [];
      try {
        await withEngine(harness, { ...quiet, wrap: hooked(async () => Promise.reject(new Error('down'))) }, async ({ chord }) => {
          schedules.push(chord.startCleanup({ intervalMs: 1 }));
          await eventually(() => logged.length >= 2, 'logged failures');
          let handled = 0;
          schedules.push(
            chord.startCleanup({
              intervalMs: 1,
              onError: () => {
                handled++;
                throw new Error('broken handler');
              },
            }),
          );
          await eventually(() => handled >= 3, 'the broken handler called again and again');
          await stopAll(schedules);
        });
      } finally {
        await stopAll(schedules);
        console.error = originalConsoleError;
      }
      const first = logged[0];
      assert.ok(first !== undefined);
      assert.equal(first[0], 'chord-sync: scheduled cleanup failed:');
      assert.ok(first[1] instanceof Error && first[1].message === 'down');
    });

    api.test('the schedule does not keep the process alive (its timers are unref\'d)', async () => {
      await withEngine(harness, quiet, async ({ chord }) => {
        let runs = 0;
        const before = activeTimeouts();
        const schedule = chord.startCleanup({ intervalMs: 3_600_000, onReport: () => void runs++ });
        try {
          assert.equal(activeTimeouts(), before, 'a ref\'d timer would show up as an active resource');
          schedule.setInterval(1);
          assert.equal(activeTimeouts(), before);
          await eventually(() => runs >= 1, 'a run, so the timer is real');
        } finally {
          await schedule.stop();
        }
      });
    });

    api.test('bad startCleanup options throw ValidationError naming the option', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const cases: Array<[unknown, string]> = [
          [{}, 'options.intervalMs'],
          [{ intervalMs: 0 }, 'options.intervalMs'],
          [{ intervalMs: 2 ** 31 }, 'options.intervalMs'],
          [{ intervalMs: '5' }, 'options.intervalMs'],
          [{ intervalMs: 10, onError: 'log' }, 'options.onError'],
          [{ intervalMs: 10, batchSize: 0 }, 'options.batchSize'],
          [{ intervalMs: 10, every: 5 }, 'options.every'],
          [null, 'options'],
        ];
        for (const [bad, argument] of cases) {
          assert.throws(() => chord.startCleanup(bad as never), (error: unknown) => {
            assert.ok(error instanceof ValidationError, `${JSON.stringify(bad)}: ${String(error)}`);
            assert.equal(error.argument, argument);
            return true;
          });
        }
      });
    });
  });
}
