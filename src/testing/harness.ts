import type { ChordBackend } from '../backend.js';

/**
 * The few functions of a test runner the suite registers with: vitest, jest and node:test all fit
 * (`{ describe, test }` from any of them). Assertions use `node:assert`, so no runner is imported.
 */
export interface SuiteApi {
  describe(name: string, fn: () => void): void;
  test(name: string, fn: () => Promise<void>, timeout?: number): void;
}

/** How the suite gets a backend: a new, empty one for every test, so no test depends on another. */
export interface BackendHarness<B extends ChordBackend = ChordBackend> {
  /** A new backend with no data, stamping `insertedAt` from `clock`. */
  makeBackend(config: { clock: () => number }): B | Promise<B>;
  /** Releases a backend after its test. Default: `backend.close?.()`. */
  dispose?(backend: B): void | Promise<void>;
}

/** A clock the tests move by hand. */
export interface ManualClock {
  (): number;
  set(time: number): void;
  advance(by: number): void;
}

/** A {@link ManualClock} starting at `start` (default 1_000_000). */
export function manualClock(start = 1_000_000): ManualClock {
  let now = start;
  const clock = (() => now) as ManualClock;
  clock.set = (time) => {
    now = time;
  };
  clock.advance = (by) => {
    now += by;
  };
  return clock;
}
