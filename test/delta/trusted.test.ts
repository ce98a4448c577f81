// The engine's variants that skip validation of what the engine made or stored itself: on valid
// input they give exactly what the public functions give.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  applyDelta,
  applyTrustedDelta,
  calculateDelta,
  calculateTrustedDelta,
  mergeDeltas,
  mergeStoredDeltas,
  mergeTrustedDeltas,
  toWireDelta,
  trustedWireDelta,
} from '../../src/delta/index.js';
import type { Delta, JsonObject } from '../../src/types.js';
import { RUNS, applyEdit, canonical, editArb, historyArb, objectArb, validationErrorOf } from './support.js';

const params = { numRuns: Math.max(1, Math.round(RUNS / 4)) };

const pairArb: fc.Arbitrary<[JsonObject, JsonObject]> = fc
  .tuple(objectArb, fc.array(editArb, { minLength: 1, maxLength: 4 }))
  .map(([a, edits]): [JsonObject, JsonObject] => [a, edits.reduce(applyEdit, a)]);

describe('trusted variants', () => {
  test('calculateTrustedDelta, applyTrustedDelta and trustedWireDelta agree with the public functions', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        const delta = calculateDelta(a, b);
        expect(canonical(calculateTrustedDelta(a, b))).toBe(canonical(delta));
        expect(canonical(applyTrustedDelta(a, delta))).toBe(canonical(applyDelta(a, delta)));
        const wire = toWireDelta(delta);
        expect(canonical(trustedWireDelta(delta))).toBe(canonical(wire));
        expect(canonical(applyTrustedDelta(a, wire))).toBe(canonical(b));
      }),
      params,
    );
  });

  test('mergeTrustedDeltas applies like mergeDeltas', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        const deltas = contexts.slice(1).map((context, i) => calculateDelta(contexts[i] as JsonObject, context));
        const first = contexts[0] as JsonObject;
        expect(canonical(applyTrustedDelta(first, mergeTrustedDeltas(deltas)))).toBe(canonical(applyDelta(first, mergeDeltas(deltas))));
      }),
      params,
    );
  });

  test('mergeStoredDeltas gives exactly what mergeDeltas gives', () => {
    fc.assert(
      fc.property(historyArb, (contexts) => {
        const deltas = contexts.slice(1).map((context, i) => calculateDelta(contexts[i] as JsonObject, context));
        expect(canonical(mergeStoredDeltas(deltas))).toBe(canonical(mergeDeltas(deltas)));
      }),
      params,
    );
  });

  test('mergeStoredDeltas onto a merge of the deltas before gives what mergeDeltas of them all gives, and leaves the earlier merge as it was', () => {
    fc.assert(
      fc.property(historyArb, fc.nat(), (contexts, cut) => {
        const deltas = contexts.slice(1).map((context, i) => calculateDelta(contexts[i] as JsonObject, context));
        const at = deltas.length === 0 ? 0 : cut % (deltas.length + 1);
        const base = mergeDeltas(deltas.slice(0, at));
        const before = canonical(base);
        expect(canonical(mergeStoredDeltas(deltas.slice(at), base))).toBe(canonical(mergeDeltas(deltas)));
        // Extended again from the same base (as for a second client version): the base is unchanged.
        expect(canonical(base)).toBe(before);
        expect(canonical(mergeStoredDeltas(deltas.slice(at), base))).toBe(canonical(mergeDeltas(deltas)));
      }),
      params,
    );
  });

  test('mergeStoredDeltas refuses a stored row that is not a delta (ValidationError naming it) but does not check the values held', () => {
    const good: Delta = { s: { n: 2 }, o: { n: 1 } };
    for (const bad of [{ bogus: 'not a delta node' }, { c: { x: 5 } }, { a: { list: { p: [[0, 'x', []]] } } }, { s: [1] }, toWireDelta(good)] as unknown as Delta[]) {
      expect(validationErrorOf(() => mergeStoredDeltas([good, bad])).argument).toBe('deltas[1]');
    }
    // A value that is not JSON (only storage written by someone else could hold one) is carried, not checked.
    const odd = { s: { n: Number.NaN }, o: { n: 2 } } as unknown as Delta;
    expect(() => mergeDeltas([good, odd])).toThrow();
    expect(() => mergeStoredDeltas([good, odd])).not.toThrow();
  });

  test('a trusted apply still refuses a delta that does not fit the context, with ValidationError', () => {
    const delta: Delta = { c: { a: { s: { x: 1 } } } };
    expect(validationErrorOf(() => applyTrustedDelta({ a: 5 }, delta)).argument).toBe('delta');
    expect(validationErrorOf(() => applyTrustedDelta({ list: [1] }, { a: { list: { c: { '3': {} } } } })).argument).toBe('delta');
  });
});
