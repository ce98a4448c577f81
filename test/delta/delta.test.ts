// Explicit cases, above all the sequences that break the Elixir reference (upstream.md items 1, 8,
// 9, 11) and the keys that break naive implementations.
import { describe, expect, test } from 'vitest';
import { applyDelta, calculateDelta, formatDelta, isEmptyDelta, mergeDeltas } from '../../src/index.js';
import type { Delta, JsonObject } from '../../src/types.js';
import { deepFreeze, expectJsonEqual } from './support.js';

// The deltas of a history c0 → c1 → … and their merge, checked to take c0 to the last context.
function history(...contexts: JsonObject[]): { deltas: Delta[]; merged: Delta } {
  deepFreeze(contexts);
  const deltas = contexts.slice(1).map((context, i) => calculateDelta(contexts[i] as JsonObject, context));
  const merged = mergeDeltas(deltas);
  expectJsonEqual(applyDelta(contexts[0] as JsonObject, merged), contexts[contexts.length - 1]);
  return { deltas, merged };
}

function changesOf(delta: Delta): ReturnType<typeof formatDelta>['changes'] {
  return formatDelta(delta, { contextId: 'ctx', version: 1 }).changes;
}

describe('merging the sequences the reference gets wrong', () => {
  test('remove then re-add a key with another value is one modification from the first value', () => {
    const { merged } = history({ a: 1, b: 2 }, { b: 2 }, { a: 3, b: 2 });
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'modified', oldValue: 1, value: 3 }]);
  });

  test('remove then re-add a key with the same value merges to the empty delta', () => {
    const { merged } = history({ a: { x: 1 } }, {}, { a: { x: 1 } });
    expect(isEmptyDelta(merged)).toBe(true);
  });

  test('add then add (another key) keeps both additions', () => {
    const { merged } = history({}, { a: 1 }, { a: 1, b: 2 });
    expect(changesOf(merged)).toEqual([
      { path: ['a'], action: 'added', value: 1 },
      { path: ['b'], action: 'added', value: 2 },
    ]);
  });

  test('add, remove, add again of the same key is one addition of the last value', () => {
    const { merged } = history({}, { a: 1 }, {}, { a: 2 });
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'added', value: 2 }]);
  });

  test('add then modify is one addition of the latest value', () => {
    const { merged } = history({}, { a: 1 }, { a: 2 });
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'added', value: 2 }]);
  });

  test('add then remove of the same new key merges to the empty delta', () => {
    const { merged } = history({ k: 0 }, { k: 0, a: { deep: [1] } }, { k: 0 });
    expect(merged).toEqual({});
  });

  test('modify then remove is one removal of the original value', () => {
    const { merged } = history({ a: 1 }, { a: 2 }, {});
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'removed', oldValue: 1 }]);
  });

  test('modify then modify back merges to the empty delta', () => {
    const { merged } = history({ a: 'x' }, { a: 'y' }, { a: 'x' });
    expect(merged).toEqual({});
  });

  test('scalar → map → change inside is one modification from the scalar to the final map', () => {
    const { merged } = history({ a: 1 }, { a: { b: 1 } }, { a: { b: 2, c: 3 } });
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'modified', oldValue: 1, value: { b: 2, c: 3 } }]);
  });

  test('map → scalar → map merges to the changes inside, from the first map to the last', () => {
    const { merged } = history({ a: { b: 1, same: [1] } }, { a: 5 }, { a: { c: 2, same: [1] } });
    expect(changesOf(merged)).toEqual([
      { path: ['a', 'b'], action: 'removed', oldValue: 1 },
      { path: ['a', 'c'], action: 'added', value: 2 },
    ]);
  });

  test('map → scalar → the same map merges to the empty delta', () => {
    const { merged } = history({ a: { b: 1 } }, { a: null }, { a: { b: 1 } });
    expect(merged).toEqual({});
  });

  test('change inside a map, then replace the map with a scalar, reports the map as it was before both', () => {
    const { merged } = history({ a: { b: 1, c: 1 } }, { a: { b: 2, c: 1 } }, { a: 'flat' });
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'modified', oldValue: { b: 1, c: 1 }, value: 'flat' }]);
  });

  test('change inside a map, then remove it, reports the map as it was before both', () => {
    const { merged } = history({ a: { b: { c: 1 } }, z: 0 }, { a: { b: { c: 2, d: 1 } }, z: 0 }, { z: 0 });
    expect(changesOf(merged)).toEqual([{ path: ['a'], action: 'removed', oldValue: { b: { c: 1 } } }]);
  });

  test('nested adds and removes at several depths merge into one delta with full paths', () => {
    const { merged } = history(
      { u: { p: { name: 'x', tags: ['a'] }, gone: true } },
      { u: { p: { name: 'x', tags: ['a'], extra: { deep: 1 } } } },
      { u: { p: { tags: ['a', 'b'], extra: { deep: 2, more: null } }, back: {} } },
    );
    expect(changesOf(merged)).toEqual([
      { path: ['u', 'back'], action: 'added', value: {} },
      { path: ['u', 'gone'], action: 'removed', oldValue: true },
      { path: ['u', 'p', 'extra'], action: 'added', value: { deep: 2, more: null } },
      { path: ['u', 'p', 'name'], action: 'removed', oldValue: 'x' },
      { path: ['u', 'p', 'tags', '1'], action: 'added', value: 'b' },
    ]);
  });

  test('merging an empty list gives the empty delta, and merging one delta keeps its effect', () => {
    expect(mergeDeltas([])).toEqual({});
    const delta = calculateDelta({ a: 1 }, { a: 2, b: {} });
    expectJsonEqual(mergeDeltas([delta]), delta);
  });
});

describe('calculateDelta', () => {
  test('adding an empty map is a real change (upstream item 8), at the top and nested', () => {
    const top = calculateDelta({}, { a: {} });
    expect(isEmptyDelta(top)).toBe(false);
    expect(applyDelta({}, top)).toEqual({ a: {} });
    const nested = calculateDelta({ a: { b: 1 } }, { a: { b: 1, c: {} } });
    expect(isEmptyDelta(nested)).toBe(false);
    expect(applyDelta({ a: { b: 1 } }, nested)).toEqual({ a: { b: 1, c: {} } });
  });

  test('emptying a map, and a map replacing an empty map, are changes', () => {
    expect(applyDelta({ a: { b: 1 } }, calculateDelta({ a: { b: 1 } }, { a: {} }))).toEqual({ a: {} });
    expect(applyDelta({ a: {} }, calculateDelta({ a: {} }, { a: { b: 1 } }))).toEqual({ a: { b: 1 } });
  });

  test('arrays are compared item by item, and equal arrays give no change', () => {
    expect(calculateDelta({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual({});
    const delta = calculateDelta({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] });
    expect(changesOf(delta)).toEqual([{ path: ['a', '1', 'b'], action: 'modified', oldValue: 2, value: 3 }]);
  });

  test('null is a value: setting a key to null and from null are changes, unlike a missing key', () => {
    expect(changesOf(calculateDelta({ a: 1 }, { a: null }))).toEqual([{ path: ['a'], action: 'modified', oldValue: 1, value: null }]);
    expect(changesOf(calculateDelta({}, { a: null }))).toEqual([{ path: ['a'], action: 'added', value: null }]);
    expect(applyDelta({ a: null }, calculateDelta({ a: null }, {}))).toEqual({});
  });

  test('equality ignores key order', () => {
    expect(calculateDelta({ a: { x: 1, y: [{ p: 1, q: 2 }] } }, { a: { y: [{ q: 2, p: 1 }], x: 1 } })).toEqual({});
  });

  test('an array and an object with the same entries are different values', () => {
    const delta = calculateDelta({ a: [] }, { a: {} });
    expect(applyDelta({ a: [] }, delta)).toEqual({ a: {} });
    expect(applyDelta({ a: {} }, calculateDelta({ a: {} }, { a: [] }))).toEqual({ a: [] });
  });

  test('the delta is JSON text that round-trips exactly', () => {
    const delta = calculateDelta({ a: 1, n: { x: 'é' } }, { b: [null, true], n: { x: '😀' } });
    expect(JSON.parse(JSON.stringify(delta))).toEqual(delta);
  });

  test('the reference example: updating the theme changes one nested key', () => {
    const before = { status: 'online', metadata: { theme: 'light', language: 'en-US' } };
    const after = { status: 'online', metadata: { theme: 'dark', language: 'en-US' } };
    const delta = calculateDelta(before, after);
    expect(changesOf(delta)).toEqual([{ path: ['metadata', 'theme'], action: 'modified', oldValue: 'light', value: 'dark' }]);
    expect(applyDelta(before, delta)).toEqual(after);
  });
});

describe('contexts whose keys look like a delta or the reference format (upstream item 9)', () => {
  const cases: [string, JsonObject, JsonObject][] = [
    ['a key named action', { x: 1 }, { action: 'added', value: 1, old_value: 0 }],
    ['a value shaped like a reference change', { a: { action: 'modified', old_value: 1, value: 2 } }, { a: { action: 'removed', old_value: 1 } }],
    ['keys named like this format’s tags', { s: { o: 1 }, c: {} }, { s: { o: 2, d: null }, c: { c: {} }, d: {}, o: [] }],
    ['a value that is itself a valid delta', {}, { s: { s: { a: 1 } }, c: { x: { d: { y: 1 } } } }],
    ['the empty key and non-ASCII keys', { '': 1, é: { '😀': 1 } }, { '': { '': 2 }, é: { '😀': 2, 日本: null } }],
    ['$-prefixed keys', { $set: { a: 1 } }, { $set: { a: 2 }, $unset: true }],
  ];
  test.each(cases)('%s: applies exactly, and formats with the context’s own keys as paths', (_, before, after) => {
    const delta = calculateDelta(before, after);
    expect(isEmptyDelta(delta)).toBe(false);
    expectJsonEqual(applyDelta(before, delta), after);
    expectJsonEqual(applyDelta(before, JSON.parse(JSON.stringify(delta)) as Delta), after);
    expectJsonEqual(applyDelta(after, calculateDelta(after, before)), before);
  });

  test('a key named action is reported as a plain added key, not as a change marker', () => {
    expect(changesOf(calculateDelta({}, { action: { action: 'x' } }))).toEqual([
      { path: ['action'], action: 'added', value: { action: 'x' } },
    ]);
  });
});

describe('prototype keys', () => {
  const polluting = (): JsonObject =>
    JSON.parse('{"__proto__": {"polluted": "yes", "p": {"q": 1}}, "constructor": {"prototype": {"polluted": "yes"}}, "toString": 1}') as JsonObject;

  function expectNoPollution(): void {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(Object.prototype).not.toHaveProperty('p');
  }

  test('__proto__ and constructor keys are added, changed and removed as own keys, without touching Object.prototype', () => {
    const after = polluting();
    const added = applyDelta({}, calculateDelta({}, after));
    expect(Object.getPrototypeOf(added)).toBe(Object.prototype);
    expect(Object.keys(added).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expectJsonEqual(added, after);
    expectNoPollution();

    const changed = JSON.parse('{"__proto__": {"polluted": "no", "p": {"q": 2}}, "constructor": 5}') as JsonObject;
    const delta = calculateDelta(added, changed);
    expect(changesOf(delta).map((c) => c.path)).toEqual([
      ['__proto__', 'p', 'q'],
      ['__proto__', 'polluted'],
      ['constructor'],
      ['toString'],
    ]);
    const result = applyDelta(added, delta);
    expectJsonEqual(result, changed);
    expectJsonEqual(applyDelta(result, calculateDelta(result, {})), {});
    expectNoPollution();
  });

  test('merging deltas over __proto__ keys neither pollutes nor loses them', () => {
    const c0 = {};
    const c1 = polluting();
    const c2 = JSON.parse('{"__proto__": {"polluted": "still", "p": {"q": 1}}}') as JsonObject;
    const merged = mergeDeltas([calculateDelta(c0, c1), calculateDelta(c1, c2)]);
    expectJsonEqual(applyDelta(c0, merged), c2);
    expectNoPollution();
  });

  test('changes inside a __proto__ key the context does not have are refused, not applied to the prototype', () => {
    const delta = JSON.parse('{"c": {"__proto__": {"s": {"polluted": "yes"}}}}') as Delta;
    expect(() => applyDelta({}, delta)).toThrow(/does not have/);
    expectNoPollution();
  });
});

describe('applyDelta', () => {
  test('never mutates the context or the delta (both deep-frozen here)', () => {
    const before = deepFreeze({ a: { b: { c: 1 }, keep: [1] }, gone: 1 });
    const delta = deepFreeze(calculateDelta(before, { a: { b: { c: 2, d: {} }, keep: [1] }, added: true }));
    const before_ = JSON.stringify(before);
    const delta_ = JSON.stringify(delta);
    expect(applyDelta(before, delta)).toEqual({ a: { b: { c: 2, d: {} }, keep: [1] }, added: true });
    expect(JSON.stringify(before)).toBe(before_);
    expect(JSON.stringify(delta)).toBe(delta_);
  });

  test('copies only the changed path: untouched subtrees are shared with the input', () => {
    const before = { big: { list: [1, 2, 3] }, path: { here: { x: 1 }, sibling: { y: 1 } } };
    const result = applyDelta(before, calculateDelta(before, { ...before, path: { ...before.path, here: { x: 2 } } }));
    expect(result).not.toBe(before);
    expect(result.big).toBe(before.big);
    expect((result.path as JsonObject).sibling).toBe(before.path.sibling);
    expect((result.path as JsonObject).here).toEqual({ x: 2 });
  });

  test('the empty delta returns the context unchanged', () => {
    const context = { a: 1 };
    expect(applyDelta(context, {})).toBe(context);
  });

  test('deleting a key that is already gone is a no-op', () => {
    expect(applyDelta({ b: 1 }, { d: { a: 1 } })).toEqual({ b: 1 });
  });
});

describe('calculateDelta on shared subtrees', () => {
  test('subtrees shared by reference are not compared, yet the delta is exact', () => {
    const shared = { deep: { x: 1 } };
    const before = { shared, other: 1 };
    const after = { shared, other: 2 };
    expect(changesOf(calculateDelta(before, after))).toEqual([{ path: ['other'], action: 'modified', oldValue: 1, value: 2 }]);
  });
});

describe('formatDelta', () => {
  test('gives full key paths four levels deep (upstream item 11)', () => {
    const before = { a: { b: { c: { d: 1, e: 1 } } } };
    const after = { a: { b: { c: { d: 2 }, f: [] } } };
    expect(formatDelta(calculateDelta(before, after), { contextId: 'user:1', version: 7 })).toEqual({
      contextId: 'user:1',
      version: 7,
      changes: [
        { path: ['a', 'b', 'c', 'd'], action: 'modified', oldValue: 1, value: 2 },
        { path: ['a', 'b', 'c', 'e'], action: 'removed', oldValue: 1 },
        { path: ['a', 'b', 'f'], action: 'added', value: [] },
      ],
    });
  });

  test('the empty delta formats to no changes', () => {
    expect(formatDelta({}, { contextId: 'x', version: 0 })).toEqual({ contextId: 'x', version: 0, changes: [] });
  });

  test('added and removed null values keep value/oldValue present as null', () => {
    expect(changesOf(calculateDelta({ a: null }, { b: null }))).toEqual([
      { path: ['a'], action: 'removed', oldValue: null },
      { path: ['b'], action: 'added', value: null },
    ]);
  });
});

describe('isEmptyDelta', () => {
  test('is true for {} and for deltas whose children change nothing, false for any change', () => {
    expect(isEmptyDelta({})).toBe(true);
    expect(isEmptyDelta({ c: { a: {}, b: { c: { x: {} } } } })).toBe(true);
    expect(isEmptyDelta({ s: { a: {} } })).toBe(false);
    expect(isEmptyDelta({ d: { a: null } })).toBe(false);
    expect(isEmptyDelta({ c: { a: { c: { b: { d: { x: 1 } } } } } })).toBe(false);
  });
});
