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

  test('a trusted apply still refuses a delta that does not fit the context, with ValidationError', () => {
    const delta: Delta = { c: { a: { s: { x: 1 } } } };
    expect(validationErrorOf(() => applyTrustedDelta({ a: 5 }, delta)).argument).toBe('delta');
    expect(validationErrorOf(() => applyTrustedDelta({ list: [1] }, { a: { list: { c: { '3': {} } } } })).argument).toBe('delta');
  });
});
