// applyChanges: the deep merge behind updateContext, with `unset` to delete (upstream item 10).
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { applyChanges, applyDelta, calculateDelta, unset } from '../../src/index.js';
import { modelMerge } from '../../src/testing/merge-model.js';
import type { Json, JsonObject } from '../../src/types.js';
import { RUNS, clone, deepFreeze, expectJsonEqual, isObject, jsonArb, keyArb, objectArb, validationErrorOf } from './support.js';

type Changes = { [key: string]: Json | typeof unset | Changes };

// The specification, written independently of the implementation: as edits on paths (see
// src/testing/merge-model.ts), not as a recursive merge with its special cases.
const referenceMerge = (target: unknown, changes: Changes): JsonObject => modelMerge(target as Json | undefined, changes);

const changesArb = fc.letrec<{ changes: Changes; value: Json | typeof unset | Changes }>((tie) => ({
  changes: fc.dictionary(keyArb, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  value: fc.oneof({ depthSize: 'small' }, jsonArb, fc.constant(unset), tie('changes')),
})).changes;

describe('applyChanges', () => {
  test('matches the reference deep merge for random contexts and changes, and never mutates them', () => {
    fc.assert(
      fc.property(objectArb, changesArb, (context, changes) => {
        const contextBefore = clone(context);
        deepFreeze(context);
        deepFreeze(changes);
        const result = applyChanges(context, changes);
        expectJsonEqual(result, referenceMerge(contextBefore, changes));
        expectJsonEqual(context, contextBefore);
        // And the engine's path from there: the delta of the update applies to give the result.
        expectJsonEqual(applyDelta(context, calculateDelta(context, result)), result);
      }),
      { numRuns: RUNS },
    );
  });

  test('plain objects merge at every depth; arrays, scalars and null replace', () => {
    const context = { a: { b: { keep: 1, list: [1, 2] }, n: 1 }, top: 'x' };
    const result = applyChanges(context, { a: { b: { list: [3], add: { z: true } }, n: null }, top: 7 });
    expect(result).toEqual({ a: { b: { keep: 1, list: [3], add: { z: true } }, n: null }, top: 7 });
  });

  test('an object replaces a scalar, an array or null; a scalar replaces an object', () => {
    expect(applyChanges({ a: 1, b: [1], c: null, d: { x: 1 } }, { a: { x: 1 }, b: { y: 1 }, c: { z: 1 }, d: 'flat' })).toEqual({
      a: { x: 1 },
      b: { y: 1 },
      c: { z: 1 },
      d: 'flat',
    });
  });

  test('unset deletes a key at any depth, and null is stored as a value', () => {
    const context = { token: 'abc', user: { name: 'n', session: { id: 1, ttl: 5 } } };
    expect(applyChanges(context, { token: unset, user: { session: { ttl: unset }, name: null } })).toEqual({
      user: { name: null, session: { id: 1 } },
    });
  });

  test('unset on a key that is not there is a no-op', () => {
    expect(applyChanges({ a: 1 }, { missing: unset, a: 1 })).toEqual({ a: 1 });
    expect(applyChanges({ a: { b: 1 } }, { a: { missing: unset } })).toEqual({ a: { b: 1 } });
    // Deleting under a key that is missing or not an object creates nothing there.
    expect(applyChanges({}, { a: { b: unset } })).toEqual({});
    expect(applyChanges({ a: 5 }, { a: { b: { c: unset } } })).toEqual({ a: 5 });
  });

  test('changes under a key that holds no object start from an empty object', () => {
    expect(applyChanges({ a: 5 }, { a: { b: unset, c: 1 } })).toEqual({ a: { c: 1 } });
    expect(applyChanges({}, { a: {} })).toEqual({ a: {} });
  });

  test('an empty changes object changes nothing and the delta is empty', () => {
    const context = { a: { b: 1 } };
    const result = applyChanges(context, {});
    expect(result).toEqual(context);
    expect(calculateDelta(context, result)).toEqual({});
  });

  test('only the changed path is copied; the rest is shared with the context', () => {
    const context = { keep: { big: [1, 2, 3] }, path: { here: 1, sibling: { y: 1 } } };
    const result = applyChanges(context, { path: { here: 2 } });
    expect(result.keep).toBe(context.keep);
    expect((result.path as JsonObject).sibling).toBe(context.path.sibling);
    expect(context.path.here).toBe(1);
  });

  test('__proto__ and constructor keys in changes become own keys and never reach Object.prototype', () => {
    const changes = JSON.parse('{"__proto__": {"polluted": "yes"}, "constructor": {"prototype": {"polluted": "yes"}}}') as JsonObject;
    const result = applyChanges({}, changes);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.keys(result).sort()).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const removed = applyChanges(result, { ['__proto__']: unset } as object);
    expect(Object.keys(removed)).toEqual(['constructor']);
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  test('unset is a registered symbol, the same across copies of the library', () => {
    expect(unset).toBe(Symbol.for('chord-sync.unset'));
  });
});

describe('applyChanges validation', () => {
  test('changes that are not a JSON object are refused, naming changes', () => {
    for (const changes of [null, [], 'x', 1, unset, new Date(0)]) {
      expect(validationErrorOf(() => applyChanges({}, changes as object)).argument).toBe('changes');
    }
  });

  test('a value that is not JSON is refused, naming its path', () => {
    expect(validationErrorOf(() => applyChanges({}, { a: { b: undefined } })).argument).toBe('changes.a.b');
    expect(validationErrorOf(() => applyChanges({}, { a: { b: [1, Number.NaN] } })).argument).toBe('changes.a.b[1]');
    expect(validationErrorOf(() => applyChanges({}, { a: { when: new Date(0) } })).argument).toBe('changes.a.when');
    expect(validationErrorOf(() => applyChanges({}, { 'x y': () => 1 })).argument).toBe('changes["x y"]');
  });

  test('unset anywhere but as an object’s value is refused, naming its path', () => {
    expect(validationErrorOf(() => applyChanges({}, { a: [unset] })).argument).toBe('changes.a[0]');
    expect(validationErrorOf(() => applyChanges({}, { a: { b: [{ c: unset }] } })).argument).toBe('changes.a.b[0].c');
  });

  test('a cycle or nesting past the depth limit is refused', () => {
    const cyclic: Record<string, unknown> = { a: {} };
    (cyclic.a as Record<string, unknown>).back = cyclic;
    expect(validationErrorOf(() => applyChanges({}, cyclic)).message).toMatch(/cycle/);
    let deep: Record<string, unknown> = { x: unset, y: 1 };
    for (let i = 0; i < 5; i++) deep = { n: deep };
    expect(validationErrorOf(() => applyChanges({}, deep, 3)).message).toMatch(/deeper than the limit of 3/);
    expect(applyChanges({}, deep, 10)).toEqual({ n: { n: { n: { n: { n: { y: 1 } } } } } });
  });

  test('a context that is not an object is refused, naming context', () => {
    expect(validationErrorOf(() => applyChanges([] as unknown as JsonObject, {})).argument).toBe('context');
  });

  test('nothing is changed when validation fails', () => {
    const context = deepFreeze({ a: { b: 1 } });
    expect(() => applyChanges(context, { a: { b: unset, c: undefined } })).toThrow(/changes\.a\.c/);
    expect(context).toEqual({ a: { b: 1 } });
  });
});
