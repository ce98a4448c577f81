// Array-aware deltas: a change to some items of an array sends those items. The laws of api.md for
// contexts whose arrays grow, shrink, reorder and change inside their items, at any depth.
import fc from 'fast-check';
import { create as createDiffPatcher } from 'jsondiffpatch';
import jsonpatch from 'fast-json-patch';
import { describe, expect, test } from 'vitest';
import { applyDelta, calculateDelta, formatDelta, isEmptyDelta, mergeDeltas, toWireDelta } from '../../src/index.js';
import type { Delta, Json, JsonObject } from '../../src/types.js';
import { RUNS, canonical, checkFormatted, clone, deepFreeze, expectJsonEqual, isObject, validationErrorOf } from './support.js';

// A quarter of the usual runs: each case here is a longer history over larger arrays.
const params = { numRuns: Math.max(1, Math.round(RUNS / 4)) };

// Few distinct scalars, so arrays hold duplicates (the hard case for matching items).
const itemScalarArb: fc.Arbitrary<Json> = fc.oneof(fc.constantFrom<Json>(0, 1, 2, 'a', 'b', null, true), fc.integer({ min: -50, max: 50 }));
const itemTree = fc.letrec<{ item: Json; array: Json[]; object: JsonObject }>((tie) => ({
  item: fc.oneof({ depthSize: 'small', withCrossShrink: true }, itemScalarArb, tie('object'), tie('array')),
  array: fc.array(tie('item'), { maxLength: 8 }),
  object: fc.dictionary(fc.constantFrom('id', 'v', 'tags', 's', 'c', 'p', '__proto__'), tie('item'), { maxKeys: 3, noNullPrototype: true }),
}));
const itemArb = itemTree.item;

/** A context with a few arrays in it, of items of every kind (arrays and objects holding arrays). */
const arrayContextArb: fc.Arbitrary<JsonObject> = fc.record({
  list: fc.array(itemArb, { maxLength: 12 }),
  nested: fc.record({ rows: fc.array(fc.array(itemScalarArb, { maxLength: 5 }), { maxLength: 4 }), n: itemScalarArb }),
  other: itemArb,
});

interface ArrayEdit {
  readonly pick: number;
  readonly kind: 'insert' | 'remove' | 'move' | 'replace' | 'inside' | 'reverse' | 'truncate' | 'appendMany' | 'retype';
  readonly at: number;
  readonly to: number;
  readonly value: Json;
}

const arrayEditArb: fc.Arbitrary<ArrayEdit> = fc.record({
  pick: fc.nat(),
  kind: fc.constantFrom('insert', 'remove', 'move', 'replace', 'inside', 'inside', 'reverse', 'truncate', 'appendMany', 'retype'),
  at: fc.nat(),
  to: fc.nat(),
  value: itemArb,
});

// Every array in `value` (the root's own arrays and those nested in items), as live references.
function arraysIn(value: Json, out: Json[][] = []): Json[][] {
  if (Array.isArray(value)) {
    out.push(value);
    for (const item of value) arraysIn(item, out);
  } else if (isObject(value)) {
    for (const key of Object.keys(value)) arraysIn(value[key] as Json, out);
  }
  return out;
}

function defineKey(object: object, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/** `context` with one array edit made, as a new object. */
function applyArrayEdit(context: JsonObject, edit: ArrayEdit): JsonObject {
  const root = clone(context);
  const arrays = arraysIn(root);
  const list = arrays[edit.pick % arrays.length];
  if (list === undefined) return root;
  const at = list.length === 0 ? 0 : edit.at % list.length;
  switch (edit.kind) {
    case 'insert':
      list.splice(edit.at % (list.length + 1), 0, edit.value);
      break;
    case 'remove':
      list.splice(at, 1 + (edit.to % 3));
      break;
    case 'move': {
      if (list.length === 0) break;
      const [item] = list.splice(at, 1);
      list.splice(edit.to % (list.length + 1), 0, item as Json);
      break;
    }
    case 'replace':
      if (list.length > 0) list[at] = edit.value;
      break;
    case 'inside': {
      // Change inside an item: a key of an object item, or an item of an array item.
      const item = list[at];
      if (isObject(item)) defineKey(item, edit.to % 2 === 0 ? 'v' : 'tags', edit.value);
      else if (Array.isArray(item)) item.splice(edit.to % (item.length + 1), edit.to % 2, edit.value);
      else if (list.length > 0) list[at] = { id: at, v: edit.value };
      break;
    }
    case 'reverse':
      list.reverse();
      break;
    case 'truncate':
      list.length = Math.min(list.length, edit.to % 3);
      break;
    case 'appendMany':
      list.push(edit.value, edit.value, edit.to);
      break;
    case 'retype':
      if (list.length > 0) list[at] = Array.isArray(list[at]) ? { id: 'was an array' } : [list[at] as Json];
      break;
  }
  return root;
}

/** A starting context and 1..8 versions, each 1..3 array edits from the one before. */
const arrayHistoryArb: fc.Arbitrary<JsonObject[]> = fc
  .tuple(arrayContextArb, fc.array(fc.array(arrayEditArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }))
  .map(([start, steps]) => {
    const contexts = [start];
    for (const edits of steps) contexts.push(edits.reduce(applyArrayEdit, contexts[contexts.length - 1] as JsonObject));
    return contexts;
  });

const arrayPairArb: fc.Arbitrary<[JsonObject, JsonObject]> = fc.oneof(
  arrayHistoryArb.map((contexts): [JsonObject, JsonObject] => [contexts[0] as JsonObject, contexts[contexts.length - 1] as JsonObject]),
  fc.tuple(arrayContextArb, arrayContextArb),
);

function stored(delta: Delta): Delta {
  return JSON.parse(JSON.stringify(delta)) as Delta;
}

function deltasOf(contexts: readonly JsonObject[]): Delta[] {
  return contexts.slice(1).map((context, i) => calculateDelta(contexts[i] as JsonObject, context));
}

describe('array edits: calculateDelta / applyDelta', () => {
  test('applyDelta(a, calculateDelta(a, b)) equals b, stored or wire, after a trip through JSON text, inputs untouched', () => {
    fc.assert(
      fc.property(arrayPairArb, ([a, b]) => {
        const snapshot = canonical([a, b]);
        deepFreeze(a);
        deepFreeze(b);
        const delta = deepFreeze(calculateDelta(a, b));
        expectJsonEqual(applyDelta(a, delta), b);
        expectJsonEqual(applyDelta(a, stored(delta)), b);
        const wire = deepFreeze(toWireDelta(delta));
        expectJsonEqual(applyDelta(a, wire), b);
        expectJsonEqual(applyDelta(a, stored(wire)), b);
        expect(canonical([a, b])).toBe(snapshot);
      }),
      params,
    );
  });

  test('the delta is empty exactly when the contexts are equal, and formats to changes that replay a onto b', () => {
    fc.assert(
      fc.property(arrayPairArb, ([a, b]) => {
        expect(calculateDelta(a, clone(a))).toEqual({});
        const delta = calculateDelta(a, b);
        expect(isEmptyDelta(delta)).toBe(canonical(a) === canonical(b));
        expect(isEmptyDelta(toWireDelta(delta))).toBe(canonical(a) === canonical(b));
        checkFormatted(formatDelta(delta, { contextId: 'ctx', version: 1 }).changes, a, b);
      }),
      params,
    );
  });
});

describe('array edits: histories and merges', () => {
  test('applying d1..dn one by one, their merge, or the merge as a wire delta, all give cn', () => {
    fc.assert(
      fc.property(arrayHistoryArb, (contexts) => {
        deepFreeze(contexts);
        const deltas = deepFreeze(deltasOf(contexts));
        const first = contexts[0] as JsonObject;
        const last = contexts[contexts.length - 1] as JsonObject;
        expectJsonEqual(deltas.reduce<JsonObject>((context, delta) => applyDelta(context, delta), first), last);
        const merged = mergeDeltas(deltas.map(stored));
        expectJsonEqual(applyDelta(first, merged), last);
        expectJsonEqual(applyDelta(first, stored(toWireDelta(merged))), last);
      }),
      params,
    );
  });

  test('the merge of every contiguous slice di..dj, applied to c(i-1), gives cj; merges of merges too', () => {
    fc.assert(
      fc.property(arrayHistoryArb, fc.nat(), (contexts, cut) => {
        const deltas = deltasOf(contexts).map(stored);
        for (let from = 0; from < deltas.length; from++) {
          for (let to = from + 1; to <= deltas.length; to++) {
            expectJsonEqual(applyDelta(contexts[from] as JsonObject, mergeDeltas(deltas.slice(from, to))), contexts[to]);
          }
        }
        const at = cut % (deltas.length + 1);
        const nested = mergeDeltas([mergeDeltas(deltas.slice(0, at)), mergeDeltas(deltas.slice(at))]);
        expectJsonEqual(applyDelta(contexts[0] as JsonObject, nested), contexts[contexts.length - 1]);
      }),
      params,
    );
  });

  test('a merged delta formats to changes that replay the first context onto the last', () => {
    fc.assert(
      fc.property(arrayHistoryArb, (contexts) => {
        const merged = mergeDeltas(deltasOf(contexts));
        checkFormatted(formatDelta(merged, { contextId: 'ctx', version: 1 }).changes, contexts[0] as JsonObject, contexts[contexts.length - 1] as JsonObject);
      }),
      params,
    );
  });

  // Not necessarily the empty delta: a merge composes the array edits it is given, and a diff of
  // arrays with repeated items may remove one copy going forward and another coming back.
  test('a history walked forward and back merges to a delta that changes nothing', () => {
    fc.assert(
      fc.property(arrayHistoryArb, (contexts) => {
        const walk = [...contexts, ...contexts.slice(0, -1).reverse()];
        const merged = mergeDeltas(deltasOf(walk));
        expectJsonEqual(applyDelta(contexts[0] as JsonObject, merged), contexts[0]);
        expectJsonEqual(applyDelta(contexts[0] as JsonObject, toWireDelta(merged)), contexts[0]);
      }),
      params,
    );
  });
});

// A 1,000-item list of records, as in the benchmark.
function records(): JsonObject {
  const items: Json[] = [];
  for (let i = 0; i < 1000; i++) items.push({ id: `item-${i}`, title: `Task number ${i}`, done: i % 3 === 0, score: i });
  return { title: 'tasks', items };
}

function size(value: unknown): number {
  return JSON.stringify(value).length;
}

describe('delta size on a long array', () => {
  const jdp = createDiffPatcher();
  const before = records();

  test('one changed item: the stored delta is within 2× jsondiffpatch, the wire delta no larger than fast-json-patch', () => {
    const after = clone(before);
    ((after.items as JsonObject[])[500] as JsonObject).done = true;
    const delta = calculateDelta(before, after);
    expect(size(delta)).toBeLessThanOrEqual(2 * size(jdp.diff(before, after)));
    expect(size(toWireDelta(delta))).toBeLessThanOrEqual(size(jsonpatch.compare(before, after)));
    expect(formatDelta(delta, { contextId: 'c', version: 1 }).changes).toEqual([
      { path: ['items', '500', 'done'], action: 'modified', oldValue: false, value: true },
    ]);
  });

  test('an insert, a removal and a move in the middle each give a delta of a few items', () => {
    const item = { id: 'new', title: 'Inserted', done: false, score: -1 };
    const inserted = clone(before);
    (inserted.items as Json[]).splice(400, 0, item);
    const removed = clone(before);
    (removed.items as Json[]).splice(600, 1);
    const moved = clone(before);
    const [taken] = (moved.items as Json[]).splice(100, 1);
    (moved.items as Json[]).splice(900, 0, taken as Json);
    for (const after of [inserted, removed, moved]) {
      const delta = calculateDelta(before, after);
      expect(size(delta)).toBeLessThan(300);
      expect(size(toWireDelta(delta))).toBeLessThan(200);
      expectJsonEqual(applyDelta(before, toWireDelta(delta)), after);
    }
    expect(formatDelta(calculateDelta(before, inserted), { contextId: 'c', version: 1 }).changes).toEqual([
      { path: ['items', '400'], action: 'added', value: item },
    ]);
  });

  test('scattered changes inside items are sent item by item, not as the array', () => {
    const after = clone(before);
    for (let i = 0; i < 1000; i += 100) ((after.items as JsonObject[])[i] as JsonObject).score = -i - 1;
    const delta = calculateDelta(before, after);
    expect(formatDelta(delta, { contextId: 'c', version: 1 }).changes).toHaveLength(10);
    expect(size(toWireDelta(delta))).toBeLessThan(size(jsonpatch.compare(before, after)));
  });
});

describe('wire deltas', () => {
  test('carry no old values: no "o", removed keys listed, splices with counts, one pointer for a deep chain', () => {
    const before = { gone: { big: 'x'.repeat(100) }, a: { b: { c: { d: 1 } } }, list: [1, 2, 3, 4], keep: 1, set: 'old' };
    const after = { a: { b: { c: { d: 2 } } }, list: [1, 9, 4], keep: 1, set: 'new' };
    const wire = toWireDelta(calculateDelta(before, after));
    expect(wire).toEqual({ w: 1, s: { set: 'new' }, d: ['gone'], t: { '/a/b/c': { s: { d: 2 } } }, a: { list: { p: [[1, 2, [9]]] } } });
    expectJsonEqual(applyDelta(before, wire), after);
    expect(toWireDelta(wire)).toBe(wire);
    expect(toWireDelta({})).toEqual({});
  });

  test('pointers escape "/" and "~" in keys and run through array items', () => {
    const before = { 'a/b': { '~x': [{ deep: { v: 1 } }, 2] } };
    const after = { 'a/b': { '~x': [{ deep: { v: 2 } }, 2] } };
    const wire = toWireDelta(calculateDelta(before, after));
    expect(wire).toEqual({ w: 1, t: { '/a~1b/~0x/0/deep': { s: { v: 2 } } } });
    expectJsonEqual(applyDelta(before, wire), after);
  });

  test('mergeDeltas and formatDelta refuse a wire delta (it lacks the old values they need), naming it', () => {
    const wire = toWireDelta(calculateDelta({ a: 1 }, { a: 2 }));
    expect(validationErrorOf(() => mergeDeltas([calculateDelta({}, { a: 1 }), wire])).argument).toBe('deltas[1]');
    expect(validationErrorOf(() => formatDelta(wire, { contextId: 'c', version: 1 })).message).toMatch(/wire delta/);
  });
});
