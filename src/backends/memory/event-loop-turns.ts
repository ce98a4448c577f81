import { setImmediate } from 'node:timers/promises';

/**
 * How long a long MemoryBackend call (a cleanup batch, a listing) may hold the event loop before it
 * lets timers and I/O run: short enough that a server's other requests wait at most about this
 * long, long enough that the turns cost well under 1% of the call.
 */
export const DEFAULT_TURN_INTERVAL_MS = 10;

// Reading the clock costs more than a step of most loops that ask, so it is read every few asks.
const ASKS_PER_CLOCK_READ = 16;

/**
 * Paces a long synchronous loop inside an async call: `due()` says when the loop has held the
 * event loop for `intervalMs` since the call began or last gave a turn; `give()` lets everything
 * queued run (timers, I/O) before the loop goes on.
 */
export class EventLoopTurns {
  readonly #intervalMs: number;
  #since = performance.now();
  #asks = 0;

  constructor(intervalMs: number = DEFAULT_TURN_INTERVAL_MS) {
    this.#intervalMs = intervalMs;
  }

  due(): boolean {
    if (++this.#asks < ASKS_PER_CLOCK_READ) return false;
    this.#asks = 0;
    return performance.now() - this.#since >= this.#intervalMs;
  }

  async give(): Promise<void> {
    // setImmediate, not a resolved promise: microtasks would run before timers and I/O ever do.
    await setImmediate();
    this.#since = performance.now();
  }
}
