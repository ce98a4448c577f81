import { CHORD_BACKEND_METHODS } from '../backend.js';
import type { ChordBackend } from '../backend.js';
import { Chord } from '../engine/chord.js';
import type { ChordConfig } from '../engine/chord.js';
import { ValidationError } from '../errors.js';
import type { BackendHarness, ManualClock } from './harness.js';
import { manualClock } from './harness.js';

/** Default number of random histories per property test, unless `CHORD_PROPERTY_RUNS` says otherwise. */
export const DEFAULT_ENGINE_PROPERTY_RUNS = 200;

/** Options of the engine conformance suite. */
export interface EngineSuiteOptions {
  /**
   * Random histories per property test. Default: the environment variable `CHORD_PROPERTY_RUNS`
   * when set, else {@link DEFAULT_ENGINE_PROPERTY_RUNS}. Lower it for slow backends.
   */
  readonly propertyRuns?: number;
  /**
   * Whether the backend has `writeVersion` (compare-and-set). When `false`, the tests of concurrent
   * writers and lost races are not registered: without it the engine cannot make them safe.
   * Default: `true`.
   */
  readonly atomicWrites?: boolean;
  /**
   * Whether the backend has bulk cleanup; when `false`, the tests that count set-based batches are
   * not registered. Default: `true`.
   */
  readonly bulkCleanup?: boolean;
  /**
   * Whether the backend has `restoreVersion`; when `false`, the test of a write racing with a
   * restore is not registered (without it the engine cannot make that safe). Default: `true`.
   */
  readonly atomicRestore?: boolean;
  /** Timeout in ms for each property test. Default: 300_000. */
  readonly propertyTimeoutMs?: number;
  /**
   * Whether the backend stores epochs (`ContextRecord.epoch`); when `false`, the tests of a context's
   * lives are not registered. Default: `true`.
   */
  readonly epochs?: boolean;
}

/** {@link EngineSuiteOptions} with the defaults filled in. */
export interface ResolvedEngineSuiteOptions {
  readonly propertyRuns: number;
  readonly atomicWrites: boolean;
  readonly bulkCleanup: boolean;
  readonly atomicRestore: boolean;
  readonly propertyTimeoutMs: number;
}

/** Fills in the defaults of `options` (reading `CHORD_PROPERTY_RUNS` when no count is given). */
export function resolveEngineSuiteOptions(options: EngineSuiteOptions = {}): ResolvedEngineSuiteOptions {
  let propertyRuns = options.propertyRuns;
  if (propertyRuns === undefined) {
    const fromEnv = process.env.CHORD_PROPERTY_RUNS;
    propertyRuns = fromEnv === undefined || fromEnv === '' ? DEFAULT_ENGINE_PROPERTY_RUNS : Number(fromEnv);
  }
  if (!Number.isSafeInteger(propertyRuns) || propertyRuns < 1) {
    throw new ValidationError('propertyRuns', `must be an integer ≥ 1 (from options or CHORD_PROPERTY_RUNS), got ${String(propertyRuns)}`);
  }
  return {
    propertyRuns,
    atomicWrites: options.atomicWrites ?? true,
    bulkCleanup: options.bulkCleanup ?? true,
    atomicRestore: options.atomicRestore ?? true,
    propertyTimeoutMs: options.propertyTimeoutMs ?? 300_000,
  };
}

/** What a test of the engine suite gets: an engine on a fresh backend, both on one manual clock. */
export interface EngineFixture {
  readonly chord: Chord;
  /** The harness's backend itself (not a wrapper the test asked for), to check what was stored. */
  readonly backend: ChordBackend;
  readonly clock: ManualClock;
}

/** Engine config for a fixture: anything but the backend and clock, plus an optional wrapper. */
export type FixtureConfig = Omit<ChordConfig, 'backend' | 'clock'> & {
  /** Gives the engine this instead of the harness's backend (e.g. a seed-only or spying wrapper). */
  readonly wrap?: (backend: ChordBackend) => ChordBackend;
};

/** Runs `fn` with a fresh backend from `harness` and an engine on it, and disposes of the backend after. */
export async function withEngine<T>(
  harness: BackendHarness,
  config: FixtureConfig,
  fn: (fixture: EngineFixture) => Promise<T>,
): Promise<T> {
  const clock = manualClock();
  const backend = await harness.makeBackend({ clock });
  try {
    const { wrap, ...engineConfig } = config;
    const chord = new Chord({ ...engineConfig, backend: wrap === undefined ? backend : wrap(backend), clock });
    return await fn({ chord, backend, clock });
  } finally {
    if (harness.dispose !== undefined) await harness.dispose(backend);
    else await backend.close?.();
  }
}


/** A view of `backend` with only the seed's eleven methods: no `writeVersion`, no bulk cleanup. */
export function seedOnly(backend: ChordBackend, overrides: Partial<ChordBackend> = {}): ChordBackend {
  const view: Partial<Record<(typeof CHORD_BACKEND_METHODS)[number], unknown>> = {};
  for (const method of CHORD_BACKEND_METHODS) {
    view[method] = overrides[method] ?? (backend[method] as (...args: unknown[]) => unknown).bind(backend);
  }
  return view as ChordBackend;
}

/** A backend that forwards every call to `backend` and counts the calls per method name. */
export function countingBackend(backend: ChordBackend): { backend: ChordBackend; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(backend, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      // Bound to the target, not the proxy: backends keep state in #private fields.
      return (...args: unknown[]) => {
        calls.set(property, (calls.get(property) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend: proxy, calls };
}

/** The versions of the stored deltas of `contextId`, ascending. */
export async function storedDeltaVersions(backend: ChordBackend, contextId: string): Promise<number[]> {
  return (await backend.listDeltas({ contextId })).map((d) => d.version);
}

/** A context id no other test uses. */
export function freshId(prefix = 'ctx'): string {
  return `${prefix}:${Math.random().toString(36).slice(2)}:${Date.now().toString(36)}`;
}

/** A promise with its resolve function, to hold a call open until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Resolves once `predicate` holds, polling every few ms; rejects with `what` after `timeoutMs`. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
