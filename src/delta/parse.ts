// Validation of a delta given by a caller, full or wire. The happy path builds no strings: paths
// are kept as segment arrays and spelled out only in an error.

import { ValidationError } from '../errors.js';
import type { Delta, JsonObject } from '../types.js';
import { describe, validateJson } from '../validation.js';
import { MAX_DELTA_DEPTH, type Segment, where } from './diff.js';
import { hasOwn, isJsonValue, isPlainObject, isStorableKey } from './json.js';
import { type ArrayNode, type ObjectNode, decodePointer, parseIndex } from './node.js';

const FULL_TAGS = new Set(['s', 'o', 'd', 'c', 'a']);
const WIRE_TAGS = new Set(['s', 'd', 'c', 'a', 't']);
const ARRAY_TAGS = new Set(['c', 'a', 'p']);

/** The root key that marks a wire delta (see toWireDelta). */
export const WIRE_MARK = 'w';

interface Parse {
  readonly argument: string;
  readonly wire: boolean;
  /** Whether the values (and keys) the delta holds are checked too, not only its structure. */
  readonly values: boolean;
}

function fail(parse: Parse, path: readonly Segment[], problem: string, cause?: unknown): never {
  throw new ValidationError(parse.argument, `${where(path)}: ${problem}`, cause === undefined ? undefined : { cause });
}

// A tag map of JSON values: checked fast, and again by validateJson only to describe a failure.
function checkValueMap(map: unknown, tag: string, parse: Parse, path: readonly Segment[], depth: number): asserts map is JsonObject {
  if (!isPlainObject(map)) fail(parse, path, `"${tag}" must be an object, got ${describe(map)}`);
  if (!parse.values || isJsonValue(map, Math.max(1, MAX_DELTA_DEPTH - depth))) return;
  checkSlowly(map, tag, parse, path, depth);
}

function checkSlowly(value: unknown, tag: string, parse: Parse, path: readonly Segment[], depth: number): void {
  try {
    validateJson(value, tag, Math.max(1, MAX_DELTA_DEPTH - depth));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    fail(parse, path, error.message.replace(/^invalid /, ''), error);
  }
  fail(parse, path, `"${tag}" holds a value that is not JSON`);
}

function checkKeys(map: object, tag: string, parse: Parse, path: readonly Segment[]): void {
  if (!parse.values) return;
  for (const key of Object.keys(map)) {
    if (!isStorableKey(key)) checkSlowly(Object.fromEntries([[key, null]]), tag, parse, path, 0);
  }
}

function checkDepth(parse: Parse, path: readonly Segment[], depth: number): void {
  if (depth >= MAX_DELTA_DEPTH) fail(parse, path, `nesting is deeper than the limit of ${MAX_DELTA_DEPTH}`);
}

function objectNode(raw: unknown, parse: Parse, path: Segment[], depth: number, root: boolean): ObjectNode {
  if (!isPlainObject(raw)) fail(parse, path, `a delta node must be an object, got ${describe(raw)}`);
  checkDepth(parse, path, depth);
  const tags = parse.wire ? WIRE_TAGS : FULL_TAGS;
  // for…in: no array of keys to allocate; `raw` is a plain object, its prototype has no enumerable keys.
  for (const key in raw) {
    if (!tags.has(key) && !(root && parse.wire && key === WIRE_MARK)) {
      const known = parse.wire ? '"s", "d", "c", "a", "t"' : '"s", "o", "d", "c", "a"';
      fail(parse, path, `unknown key ${JSON.stringify(key)} (a delta node has only ${known})`);
    }
  }
  const { s, o, d, c, a, t }: { s?: unknown; o?: unknown; d?: unknown; c?: unknown; a?: unknown; t?: unknown } = raw;
  if (s !== undefined) checkValueMap(s, 's', parse, path, depth);
  if (o !== undefined) {
    checkValueMap(o, 'o', parse, path, depth);
    for (const key of Object.keys(o)) {
      if (s === undefined || !hasOwn(s, key)) fail(parse, path, `"o" has ${JSON.stringify(key)}, which is not in "s"`);
    }
  }
  let deleted: object | undefined;
  if (d !== undefined) {
    if (parse.wire) {
      if (!Array.isArray(d) || !d.every((key) => typeof key === 'string')) {
        fail(parse, path, `"d" must be an array of keys, got ${describe(d)}`);
      }
      deleted = Object.fromEntries((d as string[]).map((key) => [key, null]));
      checkKeys(deleted, 'd', parse, path);
    } else {
      checkValueMap(d, 'd', parse, path, depth);
      deleted = d;
    }
    if (s !== undefined) {
      for (const key of Object.keys(deleted)) {
        if (hasOwn(s, key)) fail(parse, path, `${JSON.stringify(key)} is both set and deleted`);
      }
    }
  }
  if (c !== undefined) childNodes(c, 'c', s as object | undefined, deleted, undefined, parse, path, depth);
  if (a !== undefined) childNodes(a, 'a', s as object | undefined, deleted, c as object | undefined, parse, path, depth);
  if (t !== undefined) {
    if (!isPlainObject(t)) fail(parse, path, `"t" must be an object, got ${describe(t)}`);
    checkKeys(t, 't', parse, path);
    for (const pointer of Object.keys(t)) {
      const segments = decodePointer(pointer);
      if (segments === undefined) fail(parse, path, `"t" has ${JSON.stringify(pointer)}, which is not a JSON Pointer`);
      const depthBefore = path.length;
      for (let i = 1; i < segments.length; i++) path.push(segments[i] as string);
      objectNode(t[pointer], parse, path, depth + segments.length - 1, false);
      path.length = depthBefore;
    }
  }
  return raw as ObjectNode;
}

// The "c" or "a" map of an object node: its keys in no other tag, each child a valid node.
function childNodes(
  map: unknown,
  tag: 'c' | 'a',
  set: object | undefined,
  deleted: object | undefined,
  objects: object | undefined,
  parse: Parse,
  path: Segment[],
  depth: number,
): void {
  if (!isPlainObject(map)) fail(parse, path, `"${tag}" must be an object, got ${describe(map)}`);
  for (const key of Object.keys(map)) {
    if ((set !== undefined && hasOwn(set, key)) || (deleted !== undefined && hasOwn(deleted, key)) || (objects !== undefined && hasOwn(objects, key))) {
      fail(parse, path, `${JSON.stringify(key)} is both changed inside and set or deleted`);
    }
    path.push(key);
    if (tag === 'c') objectNode(map[key], parse, path, depth + 1, false);
    else arrayNode(map[key], parse, path, depth + 1);
    path.pop();
  }
  // Child keys are user keys too: the same character rules as any key.
  checkKeys(map, tag, parse, path);
}

// The "c" or "a" map of an array node: canonical indexes, each child a valid node; the indexes are
// added to `changed`.
function itemNodes(map: unknown, tag: 'c' | 'a', objects: object | undefined, changed: number[], parse: Parse, path: Segment[], depth: number): void {
  if (!isPlainObject(map)) fail(parse, path, `"${tag}" must be an object, got ${describe(map)}`);
  for (const key of Object.keys(map)) {
    const index = parseIndex(key);
    if (index < 0) fail(parse, path, `"${tag}" has ${JSON.stringify(key)}, which is not an array index`);
    if (objects !== undefined && hasOwn(objects, key)) fail(parse, path, `item ${key} is in both "c" and "a"`);
    changed.push(index);
    path.push(key);
    if (tag === 'c') objectNode(map[key], parse, path, depth + 1, false);
    else arrayNode(map[key], parse, path, depth + 1);
    path.pop();
  }
}

function arrayNode(raw: unknown, parse: Parse, path: Segment[], depth: number): ArrayNode {
  if (!isPlainObject(raw)) fail(parse, path, `an array node must be an object, got ${describe(raw)}`);
  checkDepth(parse, path, depth);
  for (const key in raw) {
    if (!ARRAY_TAGS.has(key)) fail(parse, path, `unknown key ${JSON.stringify(key)} (an array node has only "c", "a", "p")`);
  }
  const { c, a, p }: { c?: unknown; a?: unknown; p?: unknown } = raw;
  const changed: number[] = [];
  if (c !== undefined) itemNodes(c, 'c', undefined, changed, parse, path, depth);
  if (a !== undefined) itemNodes(a, 'a', c as object | undefined, changed, parse, path, depth);
  if (p !== undefined) splices(p, changed, parse, path, depth);
  return raw as ArrayNode;
}

function splices(p: unknown, changed: number[], parse: Parse, path: Segment[], depth: number): void {
  if (!Array.isArray(p)) fail(parse, path, `"p" must be an array of splices, got ${describe(p)}`);
  let end = 0;
  const ranges: number[] = [];
  for (const splice of p as unknown[]) {
    if (!Array.isArray(splice) || splice.length !== 3) fail(parse, path, `a splice must be [index, removed, inserted], got ${describe(splice)}`);
    const [index, removed, inserted] = splice as [unknown, unknown, unknown];
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < end) {
      fail(parse, path, `a splice's index must be an integer at or after ${end} (splices are in order and apart), got ${describe(index)}`);
    }
    let count: number;
    if (parse.wire) {
      if (typeof removed !== 'number' || !Number.isSafeInteger(removed) || removed < 0) {
        fail(parse, path, `a splice's removed count must be an integer ≥ 0, got ${describe(removed)}`);
      }
      count = removed;
    } else {
      if (!Array.isArray(removed)) fail(parse, path, `a splice's removed items must be an array, got ${describe(removed)}`);
      if (parse.values && !isJsonValue(removed, Math.max(1, MAX_DELTA_DEPTH - depth))) checkSlowly(removed, 'p', parse, path, depth);
      count = removed.length;
    }
    if (!Array.isArray(inserted)) fail(parse, path, `a splice's inserted items must be an array, got ${describe(inserted)}`);
    if (parse.values && !isJsonValue(inserted, Math.max(1, MAX_DELTA_DEPTH - depth))) checkSlowly(inserted, 'p', parse, path, depth);
    end = index + count;
    if (count > 0) ranges.push(index, end);
  }
  if (changed.length > 0 && ranges.length > 0) {
    changed.sort((x, y) => x - y);
    let r = 0;
    for (const index of changed) {
      while (r < ranges.length && (ranges[r + 1] as number) <= index) r += 2;
      if (r < ranges.length && (ranges[r] as number) <= index) fail(parse, path, `item ${index} is both changed inside and removed`);
    }
  }
}

/**
 * The validated root node of `delta`, and whether it is a wire delta; `full` refuses wire deltas.
 * `structure` checks the nodes, tags and splices but not the values held (for deltas whose values
 * were validated when they were written).
 */
export function parseDelta(delta: unknown, argument: string, accept: 'full' | 'any', check: 'all' | 'structure' = 'all'): { node: ObjectNode; wire: boolean } {
  if (!isPlainObject(delta)) {
    throw new ValidationError(argument, `${where([])}: a delta node must be an object, got ${describe(delta)}`);
  }
  const wire = hasOwn(delta, WIRE_MARK);
  if (wire) {
    if (delta[WIRE_MARK] !== 1) throw new ValidationError(argument, `"${WIRE_MARK}" marks a wire delta and must be 1, got ${describe(delta[WIRE_MARK])}`);
    if (accept === 'full') {
      throw new ValidationError(
        argument,
        'is a wire delta (from toWireDelta): it lacks the old values that merging and formatting need; pass the stored delta',
      );
    }
  }
  return { node: objectNode(delta, { argument, wire, values: check === 'all' }, [], 0, true), wire };
}

export type { Delta };
