// Generators and helpers shared by the delta tests.
import fc from 'fast-check';
import { expect } from 'vitest';
import { ValidationError } from '../../src/errors.js';
import type { FormattedChange } from '../../src/delta/index.js';
import type { Json, JsonObject } from '../../src/types.js';
import { canonical } from '../support/json.js';

/** Runs per property: `CHORD_PROPERTY_RUNS` if set, else 2000 (so `npm test`, and CI, run thousands). */
export const RUNS = (() => {
  const raw = process.env.CHORD_PROPERTY_RUNS;
  if (raw === undefined || raw === '') return 2000;
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`CHORD_PROPERTY_RUNS must be a positive integer, got ${raw}`);
  return runs;
})();

/**
 * Keys chosen to break naive formats: the reference's change markers, this format's own tags,
 * prototype names, the empty string and non-ASCII. Random keys are mixed in.
 */
export const ADVERSARIAL_KEYS = [
  'action', 'value', 'old_value', 'added', '$set', 's', 'o', 'd', 'c', '__proto__', 'constructor',
  'prototype', 'toString', 'hasOwnProperty', '', 'a', 'b', 'é', '日本', '😀',
] as const;

export const keyArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...ADVERSARIAL_KEYS) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }).filter((k) => !k.includes('\u0000')) },
);

const stringArb = fc.string({ unit: 'grapheme', maxLength: 6 }).filter((k) => !k.includes('\u0000'));

export const scalarArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  stringArb,
  fc.constantFrom('action', 'added', 'removed'),
);

const tree = fc.letrec<{ json: Json; array: Json[]; object: JsonObject }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarArb, tie('array'), tie('object')),
  array: fc.array(tie('json'), { maxLength: 3 }),
  object: fc.dictionary(keyArb, tie('json'), { maxKeys: 4, noNullPrototype: true }),
}));

/** Any JSON value, nested. */
export const jsonArb: fc.Arbitrary<Json> = tree.json;
/** Any JSON object, nested, with adversarial keys. */
export const objectArb: fc.Arbitrary<JsonObject> = tree.object;

// Objects over a handful of keys, so two independent ones overlap a lot: same keys with changed,
// nested, emptied or retyped values.
const smallKeyArb = fc.constantFrom('a', 'b', 'action', 's', 'c', '__proto__');
const overlapTree = fc.letrec<{ json: Json; object: JsonObject }>((tie) => ({
  json: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalarArb, fc.constant(null).map((): Json => []), fc.constant(null).map((): Json => ({})), tie('object')),
  object: fc.dictionary(smallKeyArb, tie('json'), { maxKeys: 4, noNullPrototype: true }),
}));
export const overlappingObjectArb: fc.Arbitrary<JsonObject> = overlapTree.object;

/** One random edit of a context: where to go, what to do there. */
export interface Edit {
  readonly route: readonly number[];
  readonly kind: 'set' | 'delete' | 'nest' | 'scalar' | 'emptyMap' | 'modifyScalar';
  readonly pick: number;
  readonly key: string;
  readonly value: Json;
}

export const editArb: fc.Arbitrary<Edit> = fc.record({
  route: fc.array(fc.nat(), { maxLength: 4 }),
  kind: fc.constantFrom('set', 'delete', 'nest', 'scalar', 'emptyMap', 'modifyScalar'),
  pick: fc.nat(),
  key: keyArb,
  value: jsonArb,
});

function defineKey(object: object, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A JSON copy: fresh objects throughout, own `__proto__` keys kept (JSON.parse defines them). */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `context` with `edit` made, as a new object (the input is left alone). */
export function applyEdit(context: JsonObject, edit: Edit): JsonObject {
  const root = clone(context);
  let here: JsonObject = root;
  for (const step of edit.route) {
    const objectKeys = Object.keys(here).filter((k) => isObject(here[k]));
    if (objectKeys.length === 0) break;
    here = here[objectKeys[step % objectKeys.length] as string] as JsonObject;
  }
  const keys = Object.keys(here);
  const existing = keys.length > 0 ? (keys[edit.pick % keys.length] as string) : undefined;
  switch (edit.kind) {
    case 'set':
      defineKey(here, edit.key, edit.value);
      break;
    case 'delete':
      if (existing !== undefined) delete here[existing];
      break;
    case 'nest':
      defineKey(here, edit.key, Object.fromEntries([[String(edit.pick % 3), edit.value]]));
      break;
    case 'scalar':
      // Replace a subtree (or anything) with a scalar.
      if (existing !== undefined) defineKey(here, existing, isObject(edit.value) || Array.isArray(edit.value) ? edit.pick : edit.value);
      break;
    case 'emptyMap':
      defineKey(here, existing !== undefined && edit.pick % 2 === 0 ? existing : edit.key, {});
      break;
    case 'modifyScalar':
      if (existing !== undefined) defineKey(here, existing, edit.pick);
      break;
  }
  return root;
}

/** A starting context and a chain of 1..8 versions, each 1..3 random edits from the one before. */
export const historyArb: fc.Arbitrary<JsonObject[]> = fc
  .tuple(objectArb, fc.array(fc.array(editArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }))
  .map(([start, steps]) => {
    const contexts = [start];
    for (const edits of steps) contexts.push(edits.reduce(applyEdit, contexts[contexts.length - 1] as JsonObject));
    return contexts;
  });

// One definition for every suite, in test/support/json.ts.
export { canonical } from '../support/json.js';

/** Asserts deep JSON equality, independent of key order, with own `__proto__` keys compared too. */
export function expectJsonEqual(actual: unknown, expected: unknown): void {
  expect(canonical(actual)).toBe(canonical(expected));
}

/** Freezes `value` and everything in it, so any write to it throws in strict mode. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Runs `fn` and returns the ValidationError it throws; fails on any other outcome. */
export function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw new Error(`expected a ValidationError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a ValidationError, but nothing was thrown');
}

/** The value at `path` in `value`, or `undefined` when the path does not exist. */
export function valueAt(value: Json, path: readonly string[]): Json | undefined {
  let here: Json | undefined = value;
  for (const key of path) {
    if (!isObject(here) || !Object.hasOwn(here, key)) return undefined;
    here = here[key];
  }
  return here;
}

/** Names of Object.prototype's own properties, to prove nothing was added to it. */
export function prototypeSnapshot(): string {
  return [...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Array.prototype)].sort().join(',');
}

// Every change reported must be a real change and match the contexts at its full path: replayed in
// order onto `before`, each old value is the one there at that moment, and the replay ends at
// `after`. (Array items are numbered as they are once the changes before them are made, so for a
// path into an array the value there in `before` itself is not the old value in general.)
export function checkFormatted(
  changes: readonly FormattedChange[],
  before: JsonObject,
  after: JsonObject,
): void {
  let replayed: Json = clone(before);
  for (const change of changes) {
    const parent = valueAtAny(replayed, change.path.slice(0, -1));
    const key = change.path[change.path.length - 1] as string;
    const current = childOf(parent, key);
    switch (change.action) {
      case 'added':
        if (Array.isArray(parent)) expect(Number(key)).toBeLessThanOrEqual(parent.length);
        else expect(current).toBeUndefined();
        expect(change).not.toHaveProperty('oldValue');
        break;
      case 'removed':
        expectJsonEqual(change.oldValue, current);
        expect(change).not.toHaveProperty('value');
        break;
      case 'modified':
        expectJsonEqual(change.oldValue, current);
        expect(canonical(change.oldValue)).not.toBe(canonical(change.value));
        break;
    }
    // Where the path runs through objects only, the old value is a's and the new value b's.
    if (!throughArray(before, change.path) && !throughArray(after, change.path)) {
      if (change.action !== 'added') expectJsonEqual(change.oldValue, valueAt(before, change.path));
      else expect(valueAt(before, change.path)).toBeUndefined();
      if (change.action !== 'removed') expectJsonEqual(change.value, valueAt(after, change.path));
      else expect(valueAt(after, change.path)).toBeUndefined();
    }
    replayed = replay(replayed, change.path, change) as Json;
  }
  // And the list is complete: replaying it onto `before` gives `after`.
  expectJsonEqual(replayed, after);
}

function childOf(parent: Json | undefined, key: string): Json | undefined {
  if (Array.isArray(parent)) return parent[Number(key)];
  if (parent !== null && typeof parent === 'object' && Object.hasOwn(parent, key)) return parent[key];
  return undefined;
}

function valueAtAny(value: Json, path: readonly string[]): Json | undefined {
  let here: Json | undefined = value;
  for (const key of path) here = childOf(here, key);
  return here;
}

function throughArray(value: Json, path: readonly string[]): boolean {
  let here: Json | undefined = value;
  for (const key of path) {
    if (Array.isArray(here)) return true;
    here = childOf(here, key);
  }
  return false;
}

// `root` with one formatted change made: on an array, added inserts, removed takes out, modified
// replaces; on an object, sets or deletes the key.
function replay(root: unknown, path: readonly string[], change: FormattedChange): unknown {
  const [key, ...rest] = path as [string, ...string[]];
  if (Array.isArray(root)) {
    const items = [...root];
    const index = Number(key);
    if (rest.length > 0) items[index] = replay(items[index], rest, change);
    else if (change.action === 'added') items.splice(index, 0, change.value);
    else if (change.action === 'removed') items.splice(index, 1);
    else items[index] = change.value;
    return items;
  }
  const object = { ...(root as Record<string, unknown>) };
  const next =
    rest.length > 0 ? replay(Object.hasOwn(object, key) ? object[key] : undefined, rest, change) : change.action === 'removed' ? undefined : change.value;
  if (next === undefined) delete object[key];
  else Object.defineProperty(object, key, { value: next, writable: true, enumerable: true, configurable: true });
  return object;
}
