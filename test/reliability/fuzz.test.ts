// Fuzz: every public function, given arbitrary values (fc.anything) and mutations of valid input,
// either returns a correct result or throws a ChordError; never a TypeError, a RangeError, an
// unhandled rejection or a crash.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { applyChanges, applyDelta, calculateDelta, formatDelta, isEmptyDelta, mergeDeltas, unset } from '../../src/delta/index.js';
import { Chord } from '../../src/engine/index.js';
import { ChordError } from '../../src/errors.js';
import { manualClock } from '../../src/testing/harness.js';
import type { JsonObject } from '../../src/types.js';
import { type BackendTarget, backendTargets } from '../support/targets.js';
import { canonical } from '../support/json.js';
import { forTarget } from '../support/named.js';

type Outcome<T> = { ok: true; value: T } | { ok: false; error: ChordError };

/** Runs `call`; a ChordError is an allowed outcome, anything else thrown fails the property. */
async function outcome<T>(call: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    if (error instanceof ChordError) return { ok: false, error };
    throw error;
  }
}

function outcomeSync<T>(call: () => T): Outcome<T> {
  try {
    return { ok: true, value: call() };
  } catch (error) {
    if (error instanceof ChordError) return { ok: false, error };
    throw error;
  }
}

const anything = fc.anything({
  maxDepth: 3,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withSparseArray: true,
  withTypedArray: true,
});

const jsonObject = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) as fc.Arbitrary<JsonObject>;

/** A copy of `value` with the value at a random path (one or two levels down) replaced by `replacement`. */
function mutate(value: unknown, key: string, replacement: unknown, deeper: boolean): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return replacement;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(out);
  const target = keys.length > 0 && deeper ? (keys[key.length % keys.length] as string) : key;
  Object.defineProperty(out, target, {
    value: deeper ? mutate(out[target], key, replacement, false) : replacement,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return out;
}

const mutated = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.tuple(valid, fc.string({ maxLength: 4 }), fc.oneof(anything, fc.constant(unset)), fc.boolean()).map(([v, k, r, d]) => mutate(v, k, r, d));

/** Arbitrary input: valid JSON objects, mutations of them, and anything at all. */
const input = fc.oneof(jsonObject, mutated(jsonObject), anything);
const deltaInput = fc.oneof(
  fc.tuple(jsonObject, jsonObject).map(([a, b]) => calculateDelta(a, b)),
  mutated(fc.tuple(jsonObject, jsonObject).map(([a, b]) => calculateDelta(a, b))),
  anything,
);
const ids = fc.constantFrom('a', 'b', '%');
const idInput = fc.oneof(ids, anything);
const versionInput = fc.oneof(fc.integer({ min: 0, max: 4 }), anything);

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('fuzz: delta functions', () => {
  test('calculateDelta: a delta that applies to exactly the new context, or a ChordError', () => {
    fc.assert(
      fc.property(input, input, (a, b) => {
        const result = outcomeSync(() => calculateDelta(a as JsonObject, b as JsonObject));
        if (result.ok) expect(canonical(applyDelta(a as JsonObject, result.value))).toBe(canonical(b));
      }),
      { numRuns: 400 },
    );
  });

  test('applyDelta, mergeDeltas, isEmptyDelta, formatDelta and applyChanges: a result or a ChordError', () => {
    fc.assert(
      fc.property(input, deltaInput, fc.array(deltaInput, { maxLength: 3 }), anything, input, (context, delta, deltas, options, changes) => {
        outcomeSync(() => applyDelta(context as JsonObject, delta as JsonObject));
        outcomeSync(() => mergeDeltas(deltas as JsonObject[]));
        outcomeSync(() => mergeDeltas(delta as never));
        outcomeSync(() => isEmptyDelta(delta as JsonObject));
        outcomeSync(() => formatDelta(delta as JsonObject, options as never));
        outcomeSync(() => formatDelta(delta as JsonObject, { contextId: 'x', version: 1 }));
        const merged = outcomeSync(() => applyChanges(context as JsonObject, changes as JsonObject));
        if (merged.ok) expect(Object.getPrototypeOf(merged.value)).toBe(Object.prototype);
      }),
      { numRuns: 400 },
    );
  });

  test('calculateDelta on cyclic or 100 000-deep arrays throws ValidationError, not RangeError', () => {
    const a: unknown[] = [];
    a.push(a);
    const b: unknown[] = [];
    b.push(b);
    expect(() => calculateDelta({ x: a } as never, { x: b } as never)).toThrow(/cycle/);
    let deepA: unknown = 1;
    let deepB: unknown = 2;
    for (let i = 0; i < 100_000; i++) {
      deepA = [deepA];
      deepB = [deepB];
    }
    const error = outcomeSync(() => calculateDelta({ x: deepA } as never, { x: deepB } as never));
    expect(error.ok).toBe(false);
    expect((error as { error: ChordError }).error.code).toBe('invalid_argument');
  });

  test('a chain of valid deltas merges to the delta of the whole chain; a mutated chain gives a result or a ChordError', () => {
    fc.assert(
      fc.property(fc.array(jsonObject, { minLength: 1, maxLength: 4 }), fc.nat(), anything, (contexts, at, junk) => {
        const deltas = contexts.map((c, i) => calculateDelta(i === 0 ? {} : (contexts[i - 1] as JsonObject), c));
        expect(canonical(applyDelta({}, mergeDeltas(deltas)))).toBe(canonical(contexts.at(-1)));
        const broken = [...deltas];
        broken[at % broken.length] = mutate(broken[at % broken.length], 's', junk, at % 2 === 0) as JsonObject;
        const result = outcomeSync(() => mergeDeltas(broken));
        if (result.ok) outcomeSync(() => applyDelta({}, result.value));
      }),
      { numRuns: 300 },
    );
  });
});

type Op = { method: string; args: unknown[] };

const chordOps: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ method: fc.constant('setContext'), args: fc.tuple(idInput, input, fc.oneof(fc.constant(undefined), fc.record({ expectedVersion: versionInput }), anything)) }),
  fc.record({ method: fc.constant('updateContext'), args: fc.tuple(idInput, input, fc.oneof(fc.constant(undefined), anything)) }),
  fc.record({ method: fc.constant('getContext'), args: fc.tuple(idInput) }),
  fc.record({ method: fc.constant('deleteContext'), args: fc.tuple(idInput) }),
  fc.record({ method: fc.constant('syncContext'), args: fc.tuple(idInput, fc.oneof(fc.constant(null), versionInput)) }),
  fc.record({ method: fc.constant('exportContext'), args: fc.tuple(idInput) }),
  fc.record({ method: fc.constant('restoreContext'), args: fc.tuple(idInput) }),
  fc.record({ method: fc.constant('cleanup'), args: fc.tuple(fc.oneof(fc.constant(undefined), anything)) }),
  fc.record({ method: fc.constant('startCleanup'), args: fc.tuple(fc.oneof(fc.record({ intervalMs: fc.integer({ min: 1, max: 5 }) }), anything)) }),
);

/**
 * The stored deltas of `id` are a contiguous run ending at the context's version (cleanup removes
 * the oldest, restore removes all), and when the run starts at 1 it replays from {} to the context.
 */
async function historyIsWhole(backend: ChordBackend, id: string): Promise<void> {
  const record = await backend.getContext(id);
  if (record === null) return;
  const deltas = await backend.getDeltas(id, 0);
  if (deltas.length === 0) return;
  const first = deltas[0]?.version ?? 1;
  expect(deltas.map((d) => d.version)).toEqual(deltas.map((_, i) => first + i));
  expect(deltas.at(-1)?.version).toBe(record.version);
  if (first !== 1) return;
  let state: JsonObject = {};
  for (const d of deltas) state = applyDelta(state, d.delta);
  expect(canonical(state)).toBe(canonical(record.context));
}

async function runChordOps(chord: Chord, ops: Op[]): Promise<void> {
  for (const { method, args } of ops) {
    const result = await outcome(() => (chord as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args));
    if (result.ok && method === 'startCleanup') (result.value as { stop(): void }).stop();
    if (result.ok && (method === 'setContext' || method === 'updateContext')) {
      const written = result.value as { context: { contextId: string; version: number } };
      expect((await chord.getContext(written.context.contextId))?.version).toBe(written.context.version);
    }
  }
}

function backendOps(): fc.Arbitrary<Op> {
  return fc.oneof(
    fc.record({ method: fc.constant('setContext'), args: fc.tuple(idInput, input, versionInput) }),
    fc.record({ method: fc.constant('getContext'), args: fc.tuple(idInput) }),
    fc.record({ method: fc.constant('deleteContext'), args: fc.tuple(idInput) }),
    fc.record({ method: fc.constant('setDelta'), args: fc.tuple(idInput, deltaInput, versionInput) }),
    fc.record({ method: fc.constant('getDeltas'), args: fc.tuple(idInput, versionInput) }),
    fc.record({ method: fc.constant('deleteDeltasForContext'), args: fc.tuple(idInput) }),
    fc.record({ method: fc.constant('deleteDeltasByTime'), args: fc.tuple(idInput, fc.oneof(fc.integer(), anything)) }),
    fc.record({ method: fc.constant('deleteDeltasExceedingThreshold'), args: fc.tuple(idInput, versionInput) }),
    fc.record({ method: fc.constant('listContexts'), args: fc.tuple(fc.oneof(fc.constant(undefined), fc.record({ contextId: idInput, limit: versionInput }, { requiredKeys: [] }), anything)) }),
    fc.record({ method: fc.constant('listContextsWithDeltaCounts'), args: fc.tuple(fc.oneof(fc.constant(undefined), fc.record({ version: versionInput, order: fc.constantFrom('asc', 'desc', 'up') }, { requiredKeys: [] }), anything)) }),
    fc.record({ method: fc.constant('listDeltas'), args: fc.tuple(fc.oneof(fc.constant(undefined), fc.record({ offset: versionInput, insertedAt: fc.oneof(fc.integer(), anything) }, { requiredKeys: [] }), anything)) }),
    fc.record({ method: fc.constant('writeVersion'), args: fc.tuple(idInput, input, deltaInput, versionInput) }),
    fc.record({ method: fc.constant('readForSync'), args: fc.tuple(idInput, versionInput, versionInput) }),
    fc.record({ method: fc.constant('restoreVersion'), args: fc.tuple(idInput, input, versionInput) }),
    fc.record({ method: fc.constant('deleteIdleContexts'), args: fc.tuple(fc.oneof(fc.integer(), anything), versionInput) }),
    fc.record({ method: fc.constant('deleteDeltasOlderThan'), args: fc.tuple(fc.oneof(fc.integer(), anything), versionInput) }),
    fc.record({ method: fc.constant('deleteDeltasBeyondNewest'), args: fc.tuple(versionInput, versionInput) }),
  );
}

async function runBackendOps(backend: ChordBackend, ops: Op[]): Promise<void> {
  for (const { method, args } of ops) {
    const result = await outcome(() => (backend as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args));
    if (!result.ok) continue;
    if (method === 'setContext') {
      // What the call returned is what is stored: the same JSON, whole.
      const [id, context, version] = args as [string, JsonObject, number];
      const stored = await backend.getContext(id);
      expect(stored?.version).toBe(version);
      expect(canonical(stored?.context)).toBe(canonical(context));
    }
  }
}

describe('fuzz: the engine on the memory backend', () => {
  test('Chord constructor: a working engine or a ChordError', async () => {
    await fc.assert(
      fc.asyncProperty(anything, async (config) => {
        const result = outcomeSync(() => new Chord(config as never));
        if (result.ok) await outcome(() => result.value.setContext('a', { ok: true }));
      }),
      { numRuns: 200 },
    );
  });

  test('sequences of Chord calls with arbitrary arguments: results or ChordErrors, and histories stay whole', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(chordOps, { minLength: 1, maxLength: 10 }), async (ops) => {
        const chord = new Chord({ contextProvider: async (id) => (id === 'a' ? { context: { restored: true }, version: 7 } : null), exportContext: async () => {} });
        await runChordOps(chord, ops);
        for (const id of ['a', 'b', '%']) await historyIsWhole(chord.backend, id);
      }),
      { numRuns: 150 },
    );
  });
});

// One target per executor is enough for arbitrary arguments (the SQL is the same): the socket
// PGlite target repeats prisma/pglite's database through pg, at a round trip more per statement.
const fuzzTargets: BackendTarget[] = backendTargets().filter((t) => t.name !== 'prisma/postgres-client' && t.name !== 'prisma/pglite-socket');

for (const target of fuzzTargets) {
  const runs = target.name === 'memory' ? 150 : 40;
  describe(`fuzz: ${target.label}`, () => {
    const { test } = forTarget(target.label);
    test('backend methods with arbitrary arguments: results (stored whole) or ChordErrors', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(backendOps(), { minLength: 1, maxLength: 8 }), async (ops) => {
          const backend = await target.harness.makeBackend({ clock: manualClock() });
          try {
            await runBackendOps(backend, ops);
          } finally {
            if (target.harness.dispose) await target.harness.dispose(backend);
            else await backend.close?.();
          }
        }),
        { numRuns: runs },
      );
    });

    test('the engine on this backend with arbitrary arguments: results or ChordErrors, histories whole', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(chordOps.filter((op) => op.method !== 'startCleanup'), { minLength: 1, maxLength: 8 }), async (ops) => {
          const clock = manualClock();
          const backend = await target.harness.makeBackend({ clock });
          try {
            await runChordOps(new Chord({ backend, clock }), ops);
            for (const id of ['a', 'b', '%']) await historyIsWhole(backend, id);
          } finally {
            if (target.harness.dispose) await target.harness.dispose(backend);
            else await backend.close?.();
          }
        }),
        { numRuns: runs },
      );
    });
  });
}

// Last in the file (vitest runs a file's tests in order): the fuzzing above left no rejection
// unhandled. An assertion here, not in afterAll, so a failure names a test.
test('no promise rejection went unhandled while this file fuzzed', async () => {
  // Rejections are reported a macrotask after they happen.
  await new Promise((resolve) => setImmediate(resolve));
  expect(unhandled, 'unhandled rejections').toEqual([]);
});
