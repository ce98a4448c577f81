import { ValidationError } from '../errors.js';
import { describe } from '../validation.js';
import type { CleanupOptions, CleanupReport } from './cleanup.js';

/** The longest interval `setTimeout` can wait (2^31 − 1 ms); longer ones would fire at once. */
export const MAX_CLEANUP_INTERVAL_MS = 2_147_483_647;
/** Default longest time `stop()` waits for a run in flight before it resolves anyway: 1 s. */
export const DEFAULT_STOP_WAIT_MS = 1_000;

/** Options of `chord.startCleanup()`: when to run, where errors go, and the cleanup options of each run. */
export interface StartCleanupOptions extends CleanupOptions {
  /** Milliseconds (real time, not the engine clock) between the end of one run and the start of the next. */
  readonly intervalMs: number;
  /**
   * Receives the error of a failed run; the schedule goes on. An error it throws itself is logged.
   * Default: `console.error` with the prefix `chord-sync: scheduled cleanup failed:`.
   */
  readonly onError?: (error: unknown) => void;
  /** Receives the report of each successful run. Default: none. */
  readonly onReport?: (report: CleanupReport) => void;
}

/** A running cleanup schedule, as returned by `chord.startCleanup()`. */
export interface CleanupSchedule {
  /**
   * Stops scheduling runs and resolves once a run in flight (if any) has finished, or after
   * `waitMs` (default {@link DEFAULT_STOP_WAIT_MS}) if it has not: a run stuck on a lock then ends
   * by itself (by the backend's statement or lock timeout) and still reports to `onReport` /
   * `onError`. Safe to call twice.
   */
  stop(options?: { readonly waitMs?: number }): Promise<void>;
  /** Changes the interval; a wait in progress restarts with the new interval. Integer ms ≥ 1. */
  setInterval(intervalMs: number): void;
  /** Replaces the cleanup options of the runs that start from now on (a run in flight keeps its own). */
  setOptions(options: CleanupOptions): void;
}

/** Throws unless `value` is an interval `setTimeout` honours. */
export function validateIntervalMs(value: unknown, argument: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_CLEANUP_INTERVAL_MS) {
    throw new ValidationError(argument, `must be an integer from 1 to ${MAX_CLEANUP_INTERVAL_MS} (milliseconds), got ${describe(value)}`);
  }
}

function defaultOnError(error: unknown): void {
  console.error('chord-sync: scheduled cleanup failed:', error);
}

/**
 * Runs `cleanup` every `intervalMs` after the previous run ended, so runs never overlap however
 * long one takes. `validateOptions` checks options before they are accepted, so a bad
 * `setOptions` throws at the caller instead of failing every later run.
 */
export class CleanupScheduler implements CleanupSchedule {
  readonly #cleanup: (options: CleanupOptions) => Promise<CleanupReport>;
  readonly #validateOptions: (options: CleanupOptions) => void;
  readonly #onError: (error: unknown) => void;
  readonly #onReport: ((report: CleanupReport) => void) | undefined;
  #intervalMs: number;
  #options: CleanupOptions;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = false;

  constructor(
    cleanup: (options: CleanupOptions) => Promise<CleanupReport>,
    validateOptions: (options: CleanupOptions) => void,
    intervalMs: number,
    options: CleanupOptions,
    onError: ((error: unknown) => void) | undefined,
    onReport: ((report: CleanupReport) => void) | undefined,
  ) {
    validateIntervalMs(intervalMs, 'options.intervalMs');
    validateOptions(options);
    if (onError !== undefined && typeof onError !== 'function') {
      throw new ValidationError('options.onError', `must be a function, got ${describe(onError)}`);
    }
    if (onReport !== undefined && typeof onReport !== 'function') {
      throw new ValidationError('options.onReport', `must be a function, got ${describe(onReport)}`);
    }
    this.#cleanup = cleanup;
    this.#validateOptions = validateOptions;
    this.#intervalMs = intervalMs;
    this.#options = options;
    this.#onError = onError ?? defaultOnError;
    this.#onReport = onReport;
    this.#arm();
  }

  async stop(options?: { readonly waitMs?: number }): Promise<void> {
    const waitMs = options?.waitMs ?? DEFAULT_STOP_WAIT_MS;
    if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > MAX_CLEANUP_INTERVAL_MS) {
      throw new ValidationError('options.waitMs', `must be an integer from 0 to ${MAX_CLEANUP_INTERVAL_MS} (milliseconds), got ${describe(waitMs)}`);
    }
    this.#stopped = true;
    this.#disarm();
    const inFlight = this.#inFlight;
    if (inFlight === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
    });
    try {
      await Promise.race([inFlight, bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  setInterval(intervalMs: number): void {
    validateIntervalMs(intervalMs, 'intervalMs');
    this.#intervalMs = intervalMs;
    // Only a pending wait is re-armed; a run in flight arms the next wait itself when it ends.
    if (this.#timer !== undefined) {
      this.#disarm();
      this.#arm();
    }
  }

  setOptions(options: CleanupOptions): void {
    this.#validateOptions(options);
    this.#options = options;
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#inFlight = this.#run().finally(() => {
        this.#inFlight = undefined;
        this.#arm();
      });
    }, this.#intervalMs);
    // A schedule must not keep the process alive on its own.
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #run(): Promise<void> {
    try {
      const report = await this.#cleanup(this.#options);
      this.#onReport?.(report);
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    try {
      this.#onError(error);
    } catch (handlerError) {
      // The schedule must survive a broken handler too; the only place left is the console.
      console.error('chord-sync: the cleanup onError handler threw:', handlerError, 'while handling:', error);
    }
  }
}
