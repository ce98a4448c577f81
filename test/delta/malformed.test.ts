// Malformed input to the delta functions: always a ValidationError naming the argument, never a
// TypeError from deep inside.
import { describe, expect, test } from 'vitest';
import { applyDelta, calculateDelta, formatDelta, isEmptyDelta, mergeDeltas, ValidationError } from '../../src/index.js';
import type { Delta, JsonObject } from '../../src/types.js';
import { validationErrorOf } from './support.js';

const malformed: [string, unknown][] = [
  ['null', null],
  ['a string', 'delta'],
  ['a number', 5],
  ['an array', []],
  ['a Date', new Date(0)],
  ['the reference’s format', { a: { action: 'added', value: 1 } }],
  ['an unknown tag', { s: {}, x: {} }],
  ['"s" that is an array', { s: [1] }],
  ['"s" that is a scalar', { s: 1 }],
  ['"d" that is null', { d: null }],
  ['"c" that is a string', { c: 'x' }],
  ['a child that is not a node', { c: { a: 5 } }],
  ['a child with a bad tag', { c: { a: { c: { b: { s: 1 } } } } }],
  ['"o" for a key that is not set', { o: { a: 1 } }],
  ['"o" without "s"', { s: { b: 1 }, o: { a: 1 } }],
  ['a key both set and deleted', { s: { a: 1 }, d: { a: 1 } }],
  ['a key both set and changed inside', { s: { a: 1 }, c: { a: {} } }],
  ['a key both deleted and changed inside', { d: { a: 1 }, c: { a: {} } }],
  ['an undefined value', { s: { a: undefined } }],
  ['a NaN value', { s: { a: { b: [Number.NaN] } } }],
  ['a Date value', { d: { a: new Date(0) } }],
  ['a function value', { o: { a: () => 1 }, s: { a: 1 } }],
  ['a bigint value', { s: { a: 1n } }],
  ['a key with a NUL character', { s: { 'a\u0000': 1 } }],
  ['a child key with a lone surrogate', { c: { '\ud800': {} } }],
  ['an array node with an unknown tag', { a: { list: { s: {} } } }],
  ['an array node that is an array', { a: { list: [] } }],
  ['an item index that is not canonical', { a: { list: { c: { '01': {} } } } }],
  ['an item index that is negative', { a: { list: { c: { '-1': {} } } } }],
  ['a splice that is not a triple', { a: { list: { p: [[0, []]] } } }],
  ['a splice with a negative index', { a: { list: { p: [[-1, [], [1]]] } } }],
  ['splices out of order', { a: { list: { p: [[3, [], [1]], [1, [], [2]]] } } }],
  ['overlapping splices', { a: { list: { p: [[0, [1, 2], []], [1, [], [2]]] } } }],
  ['a splice with a count in a stored delta', { a: { list: { p: [[0, 1, []]] } } }],
  ['a splice inserting a non-JSON value', { a: { list: { p: [[0, [], [undefined]]] } } }],
  ['an item both changed inside and removed', { a: { list: { c: { '1': { s: { x: 1 } } }, p: [[0, [1, 2], []]] } } }],
  ['a key changed inside as an object and as an array', { c: { k: {} }, a: { k: {} } }],
  ['a wire mark that is not 1', { w: 2, s: { a: 1 } }],
  ['a wire delta with "o"', { w: 1, s: { a: 1 }, o: { a: 0 } }],
  ['a wire delta whose "d" is a map', { w: 1, d: { a: 1 } }],
  ['a wire delta whose splice lists removed items', { w: 1, a: { list: { p: [[0, [1], []]] } } }],
  ['a wire pointer that is not a JSON Pointer', { w: 1, t: { 'a/b': { s: { x: 1 } } } }],
  ['a wire pointer with a bad escape', { w: 1, t: { '/a~2': { s: { x: 1 } } } }],
  ['a "t" in a stored delta', { t: { '/a/b': { s: { x: 1 } } } }],
];

describe.each(malformed)('a delta that is %s', (_, delta) => {
  test('applyDelta throws ValidationError naming delta', () => {
    expect(validationErrorOf(() => applyDelta({ a: { b: 1 } }, delta as Delta)).argument).toBe('delta');
  });
  test('mergeDeltas throws ValidationError naming its index', () => {
    const good = calculateDelta({}, { z: 1 });
    expect(validationErrorOf(() => mergeDeltas([good, good, delta as Delta])).argument).toBe('deltas[2]');
  });
  test('formatDelta and isEmptyDelta throw ValidationError naming delta', () => {
    expect(validationErrorOf(() => formatDelta(delta as Delta, { contextId: 'c', version: 1 })).argument).toBe('delta');
    expect(validationErrorOf(() => isEmptyDelta(delta as Delta)).argument).toBe('delta');
  });
});

describe('deltas that do not fit the context', () => {
  test('changes inside a key that holds a scalar, an array or null in the context', () => {
    const delta: Delta = { c: { a: { s: { x: 1 } } } };
    for (const value of [1, 'text', [1], null]) {
      const error = validationErrorOf(() => applyDelta({ a: value }, delta));
      expect(error.argument).toBe('delta');
      expect(error.message).toContain('["a"]');
    }
  });

  test('changes inside a key the context does not have, at depth', () => {
    const error = validationErrorOf(() => applyDelta({ a: { b: {} } }, { c: { a: { c: { b: { c: { gone: { d: { x: 1 } } } } } } } }));
    expect(error.argument).toBe('delta');
    expect(error.message).toContain('["a","b","gone"]');
  });

  test('a context that is not an object is refused, naming context', () => {
    for (const context of [null, [], 'x', new Map()]) {
      expect(validationErrorOf(() => applyDelta(context as unknown as JsonObject, {})).argument).toBe('context');
    }
  });
});

describe('array and wire deltas that do not fit the context', () => {
  test('changes inside an array the context does not have, or that is an object there', () => {
    expect(validationErrorOf(() => applyDelta({}, { a: { list: { p: [[0, [], [1]]] } } })).message).toContain('["list"]');
    expect(validationErrorOf(() => applyDelta({ list: {} }, { a: { list: { p: [[0, [], [1]]] } } })).message).toContain('an array');
    expect(validationErrorOf(() => applyDelta({ list: [] }, { c: { list: { s: { x: 1 } } } })).message).toContain('an object');
  });

  test('a splice or an item past the end of the array', () => {
    expect(validationErrorOf(() => applyDelta({ list: [1] }, { a: { list: { p: [[1, [1], []]] } } })).message).toMatch(/up to index 2 of an array of 1/);
    expect(validationErrorOf(() => applyDelta({ list: [1] }, { a: { list: { c: { '1': { s: { x: 1 } } } } } })).message).toMatch(/item 1 of an array of 1/);
  });

  test('a wire pointer through a missing key or past the end of an array', () => {
    expect(validationErrorOf(() => applyDelta({ a: {} }, { w: 1, t: { '/a/b': { s: { x: 1 } } } })).message).toContain('["a","b"]');
    expect(validationErrorOf(() => applyDelta({ a: [{}] }, { w: 1, t: { '/a/1': { s: { x: 1 } } } })).message).toMatch(/item "1" of an array of 1/);
  });
});

describe('delta sequences that cannot follow each other', () => {
  test('changes inside a key an earlier delta removed name the later delta', () => {
    const error = validationErrorOf(() => mergeDeltas([{ d: { a: { b: 1 } } }, {}, { c: { a: { s: { b: 2 } } } }]));
    expect(error.argument).toBe('deltas[2]');
  });

  test('changes inside a key an earlier delta set to a scalar name the later delta', () => {
    const error = validationErrorOf(() => mergeDeltas([{ s: { a: 1 } }, { c: { a: { s: { b: 2 } } } }]));
    expect(error.argument).toBe('deltas[1]');
  });

  test('a key changed inside, then "added" as if it were new, names the later delta', () => {
    const error = validationErrorOf(() => mergeDeltas([{ c: { a: { s: { b: 2 } } } }, { s: { a: 1 } }]));
    expect(error.argument).toBe('deltas[1]');
  });

  test('a key changed inside, then replaced with an old value that is not an object, names the later delta', () => {
    const error = validationErrorOf(() => mergeDeltas([{ c: { a: { s: { b: 2 } } } }, { s: { a: 1 }, o: { a: 7 } }]));
    expect(error.argument).toBe('deltas[1]');
  });

  test('deltas that is not an array is refused, naming deltas', () => {
    expect(validationErrorOf(() => mergeDeltas({} as unknown as Delta[])).argument).toBe('deltas');
  });
});

describe('calculateDelta input', () => {
  test('contexts that are not objects are refused, naming which one', () => {
    expect(validationErrorOf(() => calculateDelta(null as unknown as JsonObject, {})).argument).toBe('oldContext');
    expect(validationErrorOf(() => calculateDelta({}, [] as unknown as JsonObject)).argument).toBe('newContext');
  });

  test('a changed value that is not JSON is refused, naming its path', () => {
    const bad = { a: { b: { when: new Date(0) } } } as unknown as JsonObject;
    expect(validationErrorOf(() => calculateDelta({ a: { b: {} } }, bad)).argument).toBe('newContext.a.b.when');
    expect(validationErrorOf(() => calculateDelta({ a: { b: {} } }, { a: { b: { x: [undefined] } } } as unknown as JsonObject)).argument).toBe(
      'newContext.a.b.x[0]',
    );
    expect(validationErrorOf(() => calculateDelta({ gone: Number.NaN } as JsonObject, {})).argument).toBe('oldContext.gone');
  });

  test('a delta is never produced with a value that is not JSON, even where both contexts hold equal-looking objects', () => {
    const before = { a: new Date(0) } as unknown as JsonObject;
    const after = { a: new Date(0) } as unknown as JsonObject;
    expect(validationErrorOf(() => calculateDelta(before, after)).argument).toBe('newContext.a');
  });
});

describe('formatDelta options', () => {
  test('an invalid contextId or version is refused, naming it', () => {
    expect(validationErrorOf(() => formatDelta({}, { contextId: '', version: 1 })).argument).toBe('contextId');
    expect(validationErrorOf(() => formatDelta({}, { contextId: 'x', version: -1 })).argument).toBe('version');
    expect(validationErrorOf(() => formatDelta({}, null as unknown as { contextId: string; version: number })).argument).toBe('options');
  });
});

test('every error here is a ValidationError with code invalid_argument', () => {
  const error = validationErrorOf(() => applyDelta({}, null as unknown as Delta));
  expect(error).toBeInstanceOf(ValidationError);
  expect(error.code).toBe('invalid_argument');
  expect(error.message).toMatch(/^invalid delta: /);
});
