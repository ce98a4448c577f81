// The cleanup scheduler on fake timers: what must NOT happen (a second run while one is held, a
// run before the interval, a run after stop(), stop() returning early) is checked at exact
// instants, 1 ms before and at the deadline, instead of after a real sleep that a slow machine
// makes meaningless. The suite in src/testing/engine-scheduler.ts runs the same schedule through
// chord.startCleanup on every backend, with real timers.
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { CleanupOptions, CleanupReport } from '../../src/engine/cleanup.js';
import { CleanupScheduler, DEFAULT_STOP_WAIT_MS } from '../../src/engine/cleanup-schedule.js';

/** A cleanup whose runs are counted and, while `held`, do not finish. */
function heldCleanup() {
  const state = { runs: 0, finished: 0, held: false, options: [] as CleanupOptions[] };
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const cleanup = async (options: CleanupOptions): Promise<CleanupReport> => {
    state.runs++;
    state.options.push(options);
    await gate;
    state.finished++;
    return { deltasDeleted: { total: 0 } } as unknown as CleanupReport;
  };
  return {
    state,
    cleanup,
    hold() {
      gate = new Promise<void>((resolve) => (release = resolve));
    },
    release() {
      release();
      gate = Promise.resolve();
    },
  };
}

function start(cleanup: (o: CleanupOptions) => Promise<CleanupReport>, intervalMs: number, onError?: (e: unknown) => void): CleanupScheduler {
  return new CleanupScheduler(cleanup, () => {}, intervalMs, {}, onError, undefined);
}

/** Advances fake time by `ms`, letting promises settle between timers. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe('cleanup schedule on fake timers', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('the first run starts one interval after start, not before', async () => {
    const c = heldCleanup();
    const schedule = start(c.cleanup, 1_000);
    try {
      await advance(999);
      expect(c.state.runs).toBe(0);
      await advance(1);
      expect(c.state.runs).toBe(1);
    } finally {
      await schedule.stop();
    }
  });

  test('no second run starts while one is held, however many intervals pass; the next comes one interval after it ends', async () => {
    const c = heldCleanup();
    c.hold();
    const schedule = start(c.cleanup, 10);
    try {
      await advance(10);
      expect(c.state.runs).toBe(1);
      await advance(10_000);
      expect(c.state.runs, 'no run may start while the first is in flight').toBe(1);
      c.release();
      await advance(0);
      expect(c.state.finished).toBe(1);
      await advance(9);
      expect(c.state.runs, 'the interval counts from the end of the run').toBe(1);
      await advance(1);
      expect(c.state.runs).toBe(2);
    } finally {
      c.release();
      await schedule.stop();
    }
  });

  test('stop() waits for the run in flight, and no run starts after it', async () => {
    const c = heldCleanup();
    c.hold();
    const schedule = start(c.cleanup, 10);
    await advance(10);
    expect(c.state.runs).toBe(1);
    let stopped = false;
    const stopping = schedule.stop().then(() => {
      stopped = true;
    });
    await advance(DEFAULT_STOP_WAIT_MS - 1);
    expect(stopped, 'stop() must wait for the run in flight').toBe(false);
    c.release();
    await stopping;
    expect(stopped).toBe(true);
    await advance(100_000);
    expect(c.state.runs, 'no run after stop()').toBe(1);
    await expect(schedule.stop()).resolves.toBeUndefined();
  });

  test('stop() on a run that never ends resolves after waitMs exactly, and the schedule stays stopped', async () => {
    const c = heldCleanup();
    c.hold();
    const schedule = start(c.cleanup, 10);
    await advance(10);
    let stopped = false;
    void schedule.stop({ waitMs: 500 }).then(() => {
      stopped = true;
    });
    await advance(499);
    expect(stopped).toBe(false);
    await advance(1);
    expect(stopped).toBe(true);
    c.release();
    await advance(100_000);
    expect(c.state.runs).toBe(1);
  });

  test('setInterval re-times a waiting schedule: an hour means no run in 3 599 999 ms, a new short interval counts from the call', async () => {
    const c = heldCleanup();
    const schedule = start(c.cleanup, 3_600_000);
    try {
      await advance(3_599_990);
      expect(c.state.runs, 'an hour has not passed').toBe(0);
      schedule.setInterval(20);
      await advance(19);
      expect(c.state.runs, 'the new interval counts from setInterval').toBe(0);
      await advance(1);
      expect(c.state.runs).toBe(1);
      await advance(20);
      expect(c.state.runs).toBe(2);
      schedule.setInterval(3_600_000);
      await advance(3_599_999);
      expect(c.state.runs, 'back to an hour').toBe(2);
      await advance(1);
      expect(c.state.runs).toBe(3);
    } finally {
      await schedule.stop();
    }
  });

  test('a failing run goes to onError and the next run still comes one interval later', async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const failure = new Error('storage hiccup');
    const schedule = start(
      async () => {
        runs++;
        if (runs === 1) throw failure;
        return { deltasDeleted: { total: 0 } } as unknown as CleanupReport;
      },
      50,
      (error) => void errors.push(error),
    );
    try {
      await advance(50);
      expect(errors).toEqual([failure]);
      await advance(49);
      expect(runs).toBe(1);
      await advance(1);
      expect(runs).toBe(2);
      expect(errors).toEqual([failure]);
    } finally {
      await schedule.stop();
    }
  });
});
