// The delta laws, for random JSON objects and random histories.
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { applyDelta, calculateDelta, formatDelta, isEmptyDelta, mergeDeltas, toWireDelta } from '../../src/index.js';
import type { Delta, JsonObject } from '../../src/types.js';
import {
  RUNS,
  applyEdit,
  canonical,
  clone,
  deepFreeze,
  editArb,
  expectJsonEqual,
  historyArb,
  jsonArb,
  objectArb,
  overlappingObjectArb,
  prototypeSnapshot,
  checkFormatted,
} from './support.js';

const params = { numRuns: RUNS };
const prototypeBefore = prototypeSnapshot();

// A pair of contexts that are related (one edited from the other) or independent over few keys.
const pairArb: fc.Arbitrary<[JsonObject, JsonObject]> = fc.oneof(
  fc.tuple(overlappingObjectArb, overlappingObjectArb),
  fc.tuple(objectArb, fc.array(editArb, { minLength: 1, maxLength: 4 })).map(([a, edits]): [JsonObject, JsonObject] => [
    a,
    edits.reduce(applyEdit, a),
  ]),
  fc.tuple(objectArb, objectArb),
);

// What the store hands back: the delta after a trip through JSON text.
function stored(delta: Delta): Delta {
  return JSON.parse(JSON.stringify(delta)) as Delta;
}

describe('calculateDelta / applyDelta', () => {
  test('applyDelta(a, calculateDelta(a, b)) equals b, for frozen inputs (neither is mutated)', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        const snapshot = [clone(a), clone(b)];
        deepFreeze(a);
        deepFreeze(b);
        const delta = deepFreeze(calculateDelta(a, b));
        expectJsonEqual(applyDelta(a, delta), b);
        expectJsonEqual([a, b], snapshot);
      }),
      params,
    );
  });

  test('the delta survives storage as JSON text and still applies to give b', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expectJsonEqual(applyDelta(a, stored(calculateDelta(a, b))), b);
      }),
      params,
    );
  });

  test('applyDelta(a, toWireDelta(calculateDelta(a, b))) equals b, also after a trip through JSON text', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        const wire = deepFreeze(toWireDelta(calculateDelta(a, b)));
        expectJsonEqual(applyDelta(a, wire), b);
        expectJsonEqual(applyDelta(a, stored(wire)), b);
      }),
      params,
    );
  });

  test('the delta is empty exactly when the contexts are deep-equal (key order ignored)', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expect(calculateDelta(a, a)).toEqual({});
        expect(calculateDelta(a, clone(a))).toEqual({});
        expect(calculateDelta(a, reverseKeys(a) as JsonObject)).toEqual({});
        const equal = canonical(a) === canonical(b);
        expect(isEmptyDelta(calculateDelta(a, b))).toBe(equal);
      }),
      params,
    );
  });

  test('a delta merged with the delta back is empty', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expect(mergeDeltas([calculateDelta(a, b), calculateDelta(b, a)])).toEqual({});
      }),
      params,
    );
  });

  test('a delta formats to one change per changed key, with the full path, old value from a and new from b', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        checkFormatted(formatDelta(calculateDelta(a, b), { contextId: 'ctx', version: 1 }).changes, a, b);
      }),
      params,
    );
  });
});

describe('histories', () => {
  test('merging d1..dn and applying it to c0 gives cn, the same as applying d1..dn one by one', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        deepFreeze(contexts);
        const deltas = deepFreeze(deltasOf(contexts));
        const first = contexts[0] as JsonObject;
        const last = contexts[contexts.length - 1] as JsonObject;
        const oneByOne = deltas.reduce<JsonObject>((context, delta) => applyDelta(context, delta), first);
        expectJsonEqual(oneByOne, last);
        expectJsonEqual(applyDelta(first, stored(mergeDeltas(deltas))), last);
      }),
      params,
    );
  });

  test('the merge of every contiguous slice di..dj, applied to c(i-1), gives cj (a client syncing from any version)', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        const deltas = deltasOf(contexts).map(stored);
        for (let from = 0; from < deltas.length; from++) {
          for (let to = from + 1; to <= deltas.length; to++) {
            const merged = mergeDeltas(deltas.slice(from, to));
            expectJsonEqual(applyDelta(contexts[from] as JsonObject, merged), contexts[to]);
          }
        }
      }),
      params,
    );
  });

  test('the merge of d1..dn as a wire delta, applied to c0, gives cn', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        const merged = mergeDeltas(deltasOf(contexts).map(stored));
        expectJsonEqual(applyDelta(contexts[0] as JsonObject, stored(toWireDelta(merged))), contexts[contexts.length - 1]);
      }),
      params,
    );
  });

  test('merging is associative in effect: a merge of merges applies like the merge of all', () => {
    fc.assert(
      fc.property(historyArb, fc.nat(), (contexts, cut) => {
        const deltas = deltasOf(contexts);
        const at = cut % (deltas.length + 1);
        const nested = mergeDeltas([mergeDeltas(deltas.slice(0, at)), mergeDeltas(deltas.slice(at))]);
        expectJsonEqual(applyDelta(contexts[0] as JsonObject, nested), contexts[contexts.length - 1]);
        expect(canonical(nested)).toBe(canonical(mergeDeltas(deltas)));
      }),
      params,
    );
  });

  test('a merge is canonical: it is exactly the delta calculated from the first context to the last', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        const direct = calculateDelta(contexts[0] as JsonObject, contexts[contexts.length - 1] as JsonObject);
        expect(canonical(mergeDeltas(deltasOf(contexts)))).toBe(canonical(direct));
      }),
      params,
    );
  });

  test('a merged delta formats with oldValue from the earliest version and value from the latest', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        const merged = mergeDeltas(deltasOf(contexts));
        const changes = formatDelta(merged, { contextId: 'ctx', version: contexts.length - 1 }).changes;
        checkFormatted(changes, contexts[0] as JsonObject, contexts[contexts.length - 1] as JsonObject);
      }),
      params,
    );
  });

  test('a merged delta is empty exactly when the history ends where it began', () => {
    fc.assert(
      fc.property(historyArb, fc.boolean(), (contexts, roundTrip) => {
        // Half the time, walk the history back to the start so the merge must cancel out.
        const walk = roundTrip ? [...contexts, ...contexts.slice(0, -1).reverse()] : contexts;
        const merged = mergeDeltas(deltasOf(walk));
        const same = canonical(walk[0]) === canonical(walk[walk.length - 1]);
        expect(isEmptyDelta(merged)).toBe(same);
      }),
      params,
    );
  });
});

describe('robustness', () => {
  test('applyDelta, mergeDeltas, formatDelta and isEmptyDelta given any value as a delta return or throw ValidationError, never anything else', () => {
    const deltaLike = fc.oneof(
      fc.anything({ maxDepth: 4, withNullPrototype: true, withMap: true, withDate: true, withBigInt: true }),
      fc.letrec<{ node: unknown }>((tie) => ({
        node: fc.dictionary(
          fc.constantFrom('s', 'o', 'd', 'c', 'x'),
          fc.oneof(jsonArb, fc.dictionary(fc.constantFrom('a', 'b', '__proto__'), fc.oneof(jsonArb, tie('node')), { maxKeys: 3 })),
          { maxKeys: 4 },
        ),
      })).node,
    );
    fc.assert(
      fc.property(objectArb, deltaLike, deltaLike, (context, delta, other) => {
        const calls = [
          () => applyDelta(context, delta as Delta),
          () => mergeDeltas([other as Delta, delta as Delta]),
          () => formatDelta(delta as Delta, { contextId: 'ctx', version: 3 }),
          () => isEmptyDelta(delta as Delta),
        ];
        for (const call of calls) {
          try {
            call();
          } catch (error) {
            expect(error).toMatchObject({ name: 'ValidationError', code: 'invalid_argument' });
          }
        }
      }),
      params,
    );
  });

  afterAll(() => {
    // Every property above fed `__proto__` and `constructor` keys through every function.
    expect(prototypeSnapshot()).toBe(prototypeBefore);
    expect(Object.prototype).not.toHaveProperty('polluted');
  });
});

function deltasOf(contexts: readonly JsonObject[]): Delta[] {
  return contexts.slice(1).map((context, i) => calculateDelta(contexts[i] as JsonObject, context));
}

// The same value with every object's keys in reverse order.
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .reverse()
        .map((k) => [k, reverseKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}


