import { describe, expect, test } from 'vitest';
import { newEpoch } from '../src/backend.js';
import { ValidationError } from '../src/errors.js';
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DEPTH,
  MAX_CONTEXT_ID_LENGTH,
  describe as describeValue,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateContextId,
  validateCount,
  validateJson,
  validateJsonObject,
  validateListOptions,
  validateTimestamp,
  validateVersion,
} from '../src/validation.js';

/** The ValidationError `fn` throws (failing the test when it throws nothing or something else). */
function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

function expectRefused(fn: () => unknown, argument: string, problem?: RegExp): void {
  const error = validationErrorOf(fn);
  expect(error.argument).toBe(argument);
  expect(error.code).toBe('invalid_argument');
  expect(error.message.startsWith(`invalid ${argument}: `)).toBe(true);
  if (problem) expect(error.message).toMatch(problem);
}

describe('validateJson names the path of the first bad value', () => {
  test.each([
    ['nested in arrays and objects', { a: [0, 1, { b: undefined }] }, 'context.a[2].b'],
    ['a key that is not an identifier', { 'x y': { z: Number.NaN } }, 'context["x y"].z'],
    ['a key starting with a digit', { '1a': 1n }, 'context["1a"]'],
    ['a key with a dollar and underscore', { $_ok: [Symbol('s')] }, 'context.$_ok[0]'],
    ['a hole in a sparse array', { list: [1, , 3] }, 'context.list[1]'],
    ['a function', { f: () => 1 }, 'context.f'],
    ['Infinity', { n: Number.POSITIVE_INFINITY }, 'context.n'],
    ['a Date', { when: new Date(0) }, 'context.when'],
    ['a Map', { m: new Map() }, 'context.m'],
    ['a lone surrogate in a value', { s: '\uD83D' }, 'context.s'],
    ['a NUL in a value', { s: 'a\u0000' }, 'context.s'],
  ])('%s', (_label, value, path) => {
    expectRefused(() => validateJson(value, 'context'), path);
  });

  test('a key with a lone surrogate or NUL is named by its own path', () => {
    expectRefused(() => validateJson({ ['k\uDC00']: 1 }, 'delta'), `delta[${JSON.stringify('k\uDC00')}]`, /the key/);
    expectRefused(() => validateJson({ ['k\u0000']: 1 }, 'delta'), 'delta["k\\u0000"]', /NUL/);
  });

  test('symbol keys are refused at the object holding them', () => {
    expectRefused(() => validateJson({ a: { [Symbol('k')]: 1 } }, 'context'), 'context.a', /symbol keys/);
  });

  test('a cycle is refused at the path where the value repeats an ancestor', () => {
    const o: Record<string, unknown> = { a: { b: {} } };
    (o.a as { b: Record<string, unknown> }).b.back = o;
    expectRefused(() => validateJson(o, 'context'), 'context.a.b.back', /cycle/);
  });

  test('the same object twice, not nested in itself, is not a cycle', () => {
    const shared = { x: 1 };
    expect(() => validateJson({ a: shared, b: [shared, shared] }, 'context')).not.toThrow();
  });

  test('class instances are refused with their class name; null-prototype objects are plain', () => {
    class Point {
      x = 1;
    }
    expectRefused(() => validateJson({ p: new Point() }, 'context'), 'context.p', /instance of Point/);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    expect(() => validateJson({ bare }, 'context')).not.toThrow();
  });

  test('JSON scalars, empty containers and -0 are accepted', () => {
    expect(() => validateJson({ a: null, b: true, c: -0, d: '', e: [], f: {}, g: [[[]]] }, 'context')).not.toThrow();
    for (const scalar of [null, false, 0, 'x']) expect(() => validateJson(scalar, 'value')).not.toThrow();
  });

  test('nesting is bounded by maxDepth, counting objects and arrays', () => {
    expect(() => validateJson({ a: [{}] }, 'context', 3)).not.toThrow();
    expectRefused(() => validateJson({ a: [{ b: [] }] }, 'context', 3), 'context.a[0].b', /deeper than the limit of 3/);
    expect(() => validateJson({ a: [{ b: 1 }] }, 'context', 3)).not.toThrow();
  });

  test('under a depth limit far past the fast check, a cycle is still named as a cycle (no stack overflow) and deep JSON still passes', () => {
    const o: Record<string, unknown> = { a: {} };
    (o.a as Record<string, unknown>).self = o.a;
    expectRefused(() => validateJson(o, 'context', 1_000_000), 'context.a.self', /cycle/);
    const nest = (levels: number): unknown => (levels === 1 ? {} : { n: nest(levels - 1) });
    expect(() => validateJson(nest(1_500), 'v', 2_000)).not.toThrow();
    expect(() => validateJson(nest(1_500), 'v', 1_499)).toThrow(/deeper than the limit of 1499/);
  });

  test(`the default depth limit is ${DEFAULT_MAX_DEPTH}`, () => {
    const nest = (levels: number): unknown => (levels === 1 ? {} : { n: nest(levels - 1) });
    expect(() => validateJson(nest(DEFAULT_MAX_DEPTH), 'v')).not.toThrow();
    expect(() => validateJson(nest(DEFAULT_MAX_DEPTH + 1), 'v')).toThrow(ValidationError);
  });
});

describe('validateJsonObject', () => {
  test.each([
    ['null', null],
    ['an array', [1]],
    ['a string', '{}'],
    ['undefined', undefined],
    ['a number', 1],
  ])('refuses %s at the argument itself', (_label, value) => {
    expectRefused(() => validateJsonObject(value, 'context'), 'context', /must be a JSON object/);
  });

  test('checks the contents too', () => {
    expectRefused(() => validateJsonObject({ a: undefined }, 'delta'), 'delta.a');
  });
});

describe('serializeJsonObject', () => {
  const limits = resolveLimits(undefined);

  test('returns the JSON text, with -0 written as 0', () => {
    expect(serializeJsonObject({ a: [1, -0], b: 'é' }, 'context', limits)).toBe('{"a":[1,0],"b":"é"}');
  });

  test('bounds the size in UTF-8 bytes, not UTF-16 code units', () => {
    // '{"s":"…"}' is 8 bytes of framing; 'é' is 2 bytes in UTF-8 and 1 code unit in UTF-16.
    const small = resolveLimits({ maxBytes: 12 });
    expect(serializeJsonObject({ s: 'éé' }, 'context', small)).toBe('{"s":"éé"}');
    expectRefused(() => serializeJsonObject({ s: 'ééé' }, 'context', small), 'context', /14 bytes as JSON, over the limit of 12/);
    expectRefused(() => serializeJsonObject({ s: '😀😀' }, 'context', resolveLimits({ maxBytes: 15 })), 'context', /16 bytes/);
  });

  test('refuses non-JSON before serializing', () => {
    expectRefused(() => serializeJsonObject({ a: { b: 1n } }, 'delta', limits), 'delta.a.b', /bigint/);
  });

  test('applies the depth limit it is given', () => {
    expectRefused(() => serializeJsonObject({ a: {} }, 'context', resolveLimits({ maxDepth: 1 })), 'context.a');
  });
});

describe('resolveLimits', () => {
  test('fills in the defaults', () => {
    expect(resolveLimits(undefined)).toEqual({ maxDepth: DEFAULT_MAX_DEPTH, maxBytes: DEFAULT_MAX_BYTES });
    expect(resolveLimits({ maxBytes: 100 })).toEqual({ maxDepth: DEFAULT_MAX_DEPTH, maxBytes: 100 });
    expect(DEFAULT_MAX_BYTES).toBe(16 * 1024 * 1024);
  });

  test.each([
    [{ maxDepth: 0 }, 'limits.maxDepth'],
    [{ maxDepth: 1.5 }, 'limits.maxDepth'],
    [{ maxBytes: 1 }, 'limits.maxBytes'],
    [{ maxBytes: Number.POSITIVE_INFINITY }, 'limits.maxBytes'],
  ])('refuses %o, naming %s', (limits, argument) => {
    expectRefused(() => resolveLimits(limits), argument);
  });
});

describe('validateContextId', () => {
  test(`accepts any well-formed string of 1 to ${MAX_CONTEXT_ID_LENGTH} code units`, () => {
    for (const id of ['a', 'a:b%_\\"\'', '日本語😀', 'x'.repeat(MAX_CONTEXT_ID_LENGTH)]) {
      expect(() => validateContextId(id)).not.toThrow();
    }
  });

  test.each([
    ['', /must not be empty/],
    ['x'.repeat(MAX_CONTEXT_ID_LENGTH + 1), new RegExp(`at most ${MAX_CONTEXT_ID_LENGTH} characters, got ${MAX_CONTEXT_ID_LENGTH + 1}`)],
    [42, /must be a string, got 42/],
    [null, /got null/],
    [undefined, /got undefined/],
    [['a'], /got an array/],
    ['a\uD800', /lone UTF-16 surrogate/],
    ['a\u0000', /NUL/],
  ])('refuses %j', (id, problem) => {
    expectRefused(() => validateContextId(id), 'contextId', problem);
  });

  test('names the argument it is given', () => {
    expectRefused(() => validateContextId('', 'options.contextId'), 'options.contextId');
  });
});

describe('numbers', () => {
  test('validateVersion accepts integers from 0 to Number.MAX_SAFE_INTEGER only', () => {
    for (const v of [0, 1, Number.MAX_SAFE_INTEGER]) expect(() => validateVersion(v)).not.toThrow();
    for (const v of [-1, 1.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY, '1', null, 1n]) {
      expectRefused(() => validateVersion(v), 'version');
    }
    expectRefused(() => validateVersion(-1, 'clientVersion'), 'clientVersion', /got -1/);
  });

  test('validateTimestamp accepts any safe integer, negative too', () => {
    for (const t of [-5, 0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
      expect(() => validateTimestamp(t, 'olderThanTime')).not.toThrow();
    }
    for (const t of [0.5, Number.NaN, 2 ** 53, '100', new Date(0)]) {
      expectRefused(() => validateTimestamp(t, 'olderThanTime'), 'olderThanTime');
    }
  });

  test('validateCount accepts integers ≥ 0', () => {
    for (const n of [0, 7]) expect(() => validateCount(n, 'limit')).not.toThrow();
    for (const n of [-1, 0.5, Number.NaN, '3']) expectRefused(() => validateCount(n, 'limit'), 'limit', /integer ≥ 0/);
  });

  test('readClock returns an integer reading and refuses anything else as `clock`', () => {
    expect(readClock(() => 42)).toBe(42);
    for (const bad of [1.5, Number.NaN, '1', undefined]) {
      expectRefused(() => readClock(() => bad as number), 'clock', /must return an integer timestamp/);
    }
  });
});

describe('validateListOptions', () => {
  test('undefined means no options; valid options come back as given', () => {
    expect(validateListOptions(undefined)).toEqual({});
    const options = { contextId: 'a', version: 0, insertedAt: -1, limit: 0, offset: 3, order: 'desc' };
    expect(validateListOptions(options)).toEqual(options);
    expect(validateListOptions({ limit: undefined })).toEqual({ limit: undefined });
  });

  test.each([
    ['not an object', 'asc', 'options'],
    ['null', null, 'options'],
    ['an array', [], 'options'],
    ['an unknown key', { sort: 'asc' }, 'options.sort'],
    ['a bad contextId', { contextId: '' }, 'options.contextId'],
    ['a bad version', { version: -1 }, 'options.version'],
    ['a bad insertedAt', { insertedAt: 1.5 }, 'options.insertedAt'],
    ['a negative limit', { limit: -1 }, 'options.limit'],
    ['a fractional offset', { offset: 0.5 }, 'options.offset'],
    ['an unknown order', { order: 'DESC' }, 'options.order'],
  ])('refuses %s', (_label, options, argument) => {
    expectRefused(() => validateListOptions(options), argument);
  });

  test('an unknown key is named with the known ones in the message', () => {
    expectRefused(() => validateListOptions({ context_id: 'a' }), 'options.context_id', /known: contextId, version/);
  });

  test('names paths under the argument it is given', () => {
    expectRefused(() => validateListOptions({ limit: -1 }, 'cleanup'), 'cleanup.limit');
  });
});

describe('describe (values in error messages)', () => {
  test.each([
    [null, 'null'],
    [undefined, 'undefined'],
    ['ab', '"ab"'],
    [3, '3'],
    [true, 'true'],
    [5n, '5n (bigint)'],
    [Symbol('s'), 'a symbol'],
    [() => 1, 'a function'],
    [[1], 'an array'],
    [{}, 'an object'],
    [Object.create(null), 'an object'],
    [new Map(), 'an instance of Map'],
  ])('%s → %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });

  test('long strings are cut to 60 characters', () => {
    expect(describeValue('x'.repeat(100))).toBe(`${JSON.stringify('x'.repeat(60))}…`);
  });
});

describe('newEpoch', () => {
  test('gives 128 random bits as base64url, never the same twice, across refills of its pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const epoch = newEpoch();
      expect(epoch).toMatch(/^[A-Za-z0-9_-]{22}$/);
      seen.add(epoch);
    }
    expect(seen.size).toBe(2_000);
  });
});
