// The write messages: encodeChanges / decodeChanges round-trip (unset survives JSON), and the
// checks of parseWriteRequest / decodeChanges name the bad field.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { applyChanges, unset, ValidationError } from '../../src/index.js';
import type { ContextChange, ContextChanges } from '../../src/index.js';
import { jsonArb, keyArb, objectArb } from '../delta/support.js';
import { decodeChanges, encodeChanges, parseWriteRequest } from '../../src/wire/writes.js';

// The delta tests' adversarial keys, and keys that look like parts of the write format.
const key = fc.oneof(keyArb, fc.constantFrom('unset', '$unset', 'merge', 'kind', 'context'));
const { changes: changesArb } = fc.letrec<{ changes: ContextChanges; change: ContextChange }>((tie) => ({
  changes: fc.dictionary(key, tie('change'), { maxKeys: 4, noNullPrototype: true }),
  change: fc.oneof({ depthSize: 'small' }, jsonArb, fc.constant(unset), tie('changes')),
}));
const contextArb = objectArb;

/**
 * A form to compare by value: a key named `constructor` defeats toStrictEqual's type check, so
 * objects become sorted entry lists (and `unset` a marker no JSON value can be).
 */
type Canon = readonly ['unset'] | readonly ['object', [string, Canon][]] | readonly ['array', Canon[]] | readonly ['json', unknown];
function canon(value: unknown): Canon {
  if (value === unset) return ['unset'];
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    const entries = Object.keys(value).map((k): [string, Canon] => [k, canon((value as Record<string, unknown>)[k])]);
    return ['object', entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
  }
  if (Array.isArray(value)) return ['array', value.map(canon)];
  return ['json', value];
}

/** What crosses the wire: the encoded form through JSON text. */
function overTheWire(changes: ContextChanges): ContextChanges {
  const { merge, unset: paths } = JSON.parse(JSON.stringify(encodeChanges(changes))) as { merge: unknown; unset: unknown };
  return decodeChanges(merge, paths);
}

describe('encodeChanges / decodeChanges', () => {
  test('decode(encode(changes)) is changes again, through JSON text (property)', () => {
    fc.assert(
      fc.property(changesArb, (changes) => {
        expect(canon(overTheWire(changes))).toStrictEqual(canon(changes));
      }),
      { numRuns: 500 },
    );
  });

  test('the decoded changes do to any context what the original changes do (property)', () => {
    fc.assert(
      fc.property(contextArb, changesArb, (context, changes) => {
        expect(canon(applyChanges(context, overTheWire(changes)))).toStrictEqual(canon(applyChanges(context, changes)));
      }),
      { numRuns: 500 },
    );
  });

  test('merge has no unset, and an object that only deletes is left out of merge', () => {
    const encoded = encodeChanges({ a: { b: unset }, c: {}, d: { e: unset, f: 1 }, unset: unset, merge: { unset: 2 } });
    expect(encoded.merge).toStrictEqual({ c: {}, d: { f: 1 }, merge: { unset: 2 } });
    expect(encoded.unset).toStrictEqual([['a', 'b'], ['d', 'e'], ['unset']]);
    expect(JSON.stringify(encoded)).not.toContain('null');
  });

  test('a __proto__ key travels as an own key and changes no prototype', () => {
    const changes = JSON.parse('{"__proto__": {"polluted": 1}}') as ContextChanges;
    const decoded = decodeChanges(JSON.parse('{}'), [['__proto__', 'x'], ['y']]);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toStrictEqual(['__proto__', 'y']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(canon(overTheWire(changes))).toStrictEqual(canon(changes));
  });

  test('decode does not modify merge', () => {
    const merge = { a: { b: 1 } };
    decodeChanges(merge, [['a', 'c']]);
    expect(merge).toStrictEqual({ a: { b: 1 } });
  });

  test.each([
    ['not an array', { a: 1 }, 'x', 'body.unset'],
    ['an empty path', {}, [[]], 'body.unset[0]'],
    ['a path of numbers', {}, [[1]], 'body.unset[0]'],
    ['a path inside a scalar of merge', { a: 1 }, [['a', 'b']], 'body.unset[0]'],
    ['a path inside an array of merge', { a: [1] }, [['a', '0']], 'body.unset[0]'],
    ['a key that merge sets', { a: 1 }, [['a']], 'body.unset[0]'],
    ['the same path twice', {}, [['a'], ['a']], 'body.unset[1]'],
    ['a path below another path', {}, [['a'], ['a', 'b']], 'body.unset[1]'],
    ['merge not an object', [1], [], 'body.merge'],
  ])('decode refuses %s with ValidationError naming %s', (_name, merge, paths, argument) => {
    expect(() => decodeChanges(merge, paths)).toThrow(ValidationError);
    expect(() => decodeChanges(merge, paths)).toThrow(argument);
  });
});

describe('parseWriteRequest', () => {
  const update = { kind: 'update', merge: { a: 1 }, unset: [['b']], clientId: 'c1', writeId: 1 };
  const set = { kind: 'set', context: { a: 1 }, expectedVersion: 0, epoch: 'e', clientId: 'c1', writeId: 7 };

  test('accepts an update and a set as sent', () => {
    expect(parseWriteRequest(update)).toStrictEqual(update);
    expect(parseWriteRequest(set)).toStrictEqual(set);
  });

  test.each([
    ['a body that is not an object', 'x', 'body'],
    ['an unknown kind', { ...update, kind: 'delete' }, 'body.kind'],
    ['a missing clientId', { ...update, clientId: undefined }, 'body.clientId'],
    ['an empty clientId', { ...update, clientId: '' }, 'body.clientId'],
    ['a clientId too long', { ...update, clientId: 'x'.repeat(257) }, 'body.clientId'],
    ['writeId 0', { ...update, writeId: 0 }, 'body.writeId'],
    ['a fractional writeId', { ...update, writeId: 1.5 }, 'body.writeId'],
    ['a writeId past 2^31-1', { ...update, writeId: 2 ** 31 }, 'body.writeId'],
    ['a negative expectedVersion', { ...update, expectedVersion: -1 }, 'body.expectedVersion'],
    ['an epoch that is not a string', { ...update, epoch: 1 }, 'body.epoch'],
    ['a set without context', { ...set, context: undefined }, 'body.context'],
    ['an update without merge', { ...update, merge: undefined }, 'body.merge'],
    ['an update without unset', { ...update, unset: undefined }, 'body.unset'],
    ['an unknown field', { ...update, extra: 1 }, 'body.extra'],
    ['a set with merge', { ...set, merge: {} }, 'body.merge'],
  ])('refuses %s with ValidationError naming %s', (_name, body, argument) => {
    expect(() => parseWriteRequest(body)).toThrow(ValidationError);
    expect(() => parseWriteRequest(body)).toThrow(argument);
  });
});
