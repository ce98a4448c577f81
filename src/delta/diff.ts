// calculateDelta's walk: objects key by key, arrays item by item (common ends trimmed, then a
// bounded Myers diff of the middle, equal-length gaps paired index by index).

import { ValidationError } from '../errors.js';
import type { Json, JsonObject } from '../types.js';
import { validateJson } from '../validation.js';
import { hasOwn, isJsonValue, isPlainObject, jsonEqual, ownValue, put } from './json.js';
import { type ArrayNode, type ObjectNode, indexMap } from './node.js';

/**
 * Deepest object nesting a delta may describe (context levels, plus the nesting of the values it
 * holds). Deeper input is refused with `ValidationError` rather than risking the call stack.
 */
export const MAX_DELTA_DEPTH = 1000;

/** Most edits (inserts plus removes) the array diff looks for before it pairs items by index instead. */
const MAX_ARRAY_EDITS = 64;

/** A step on the way from the root: an object key or an array index. */
export type Segment = string | number;

/** `argument` followed by `path` the way validateJson names paths: `newContext.a[0]["x y"]`. */
export function describePath(argument: string, path: readonly Segment[]): string {
  let out = argument;
  for (const step of path) {
    if (typeof step === 'number') out += `[${step}]`;
    else out += /^[A-Za-z_$][\w$]*$/.test(step) ? `.${step}` : `[${JSON.stringify(step)}]`;
  }
  return out;
}

export function where(path: readonly Segment[]): string {
  return path.length === 0 ? 'at the top level' : `at key path ${JSON.stringify(path.map(String))}`;
}

// Only values that go into the delta are checked (the contexts themselves are validated by whoever
// stores them), so the cost follows the size of the change. The path is spelled out only on error.
function checked(value: unknown, argument: string, path: Segment[], last: Segment): Json {
  if (isJsonValue(value, MAX_DELTA_DEPTH)) return value as Json;
  path.push(last);
  const name = describePath(argument, path);
  path.pop();
  validateJson(value, name, MAX_DELTA_DEPTH);
  throw new ValidationError(name, 'is not a JSON value');
}

/** How a diff treats the values it puts in the delta. */
export interface DiffMode {
  /** Check each value is JSON (false only for contexts the engine has validated already). */
  readonly check: boolean;
}

// The same value in both contexts can be skipped unread, unless it is one no delta may hold: a
// symbol, function, bigint or undefined is passed on to be refused, not kept silently.
function skippable(value: unknown): boolean {
  const type = typeof value;
  return type === 'object' || type === 'string' || type === 'number' || type === 'boolean';
}

function same(x: unknown, y: unknown): boolean {
  return x === y ? skippable(x) : jsonEqual(x, y);
}

/** The change from object `a` to object `b`, or `undefined` if they are equal. */
export function diffObject(a: JsonObject, b: JsonObject, path: Segment[], mode: DiffMode): ObjectNode | undefined {
  if (path.length >= MAX_DELTA_DEPTH) {
    throw new ValidationError('newContext', `${where(path)}: nesting is deeper than the limit of ${MAX_DELTA_DEPTH} (or a value contains itself: a cycle)`);
  }
  const check = mode.check;
  let s: JsonObject | undefined;
  let o: JsonObject | undefined;
  let d: JsonObject | undefined;
  let c: Record<string, ObjectNode> | undefined;
  let arrays: Record<string, ArrayNode> | undefined;
  let removed = 0;
  const aKeys = Object.keys(a);
  for (let i = 0; i < aKeys.length; i++) {
    const key = aKeys[i] as string;
    const before = a[key];
    const after = ownValue(b, key);
    if (after === undefined) {
      if (!hasOwn(b, key)) {
        put((d ??= {}), key, check ? checked(before, 'oldContext', path, key) : before);
        removed++;
        continue;
      }
    } else if (before === after && skippable(before)) {
      continue;
    } // shared subtree (structural sharing): nothing to compare
    if (typeof before === 'object' && before !== null && typeof after === 'object' && after !== null) {
      const beforeIsArray = Array.isArray(before);
      if (beforeIsArray && Array.isArray(after)) {
        path.push(key);
        const child = diffArray(before, after, path, mode);
        path.pop();
        if (child !== undefined) put((arrays ??= {}), key, child);
        continue;
      }
      if (!beforeIsArray && !Array.isArray(after) && isPlainObject(before) && isPlainObject(after)) {
        path.push(key);
        const child = diffObject(before, after, path, mode);
        path.pop();
        if (child !== undefined) put((c ??= {}), key, child);
        continue;
      }
      if (jsonEqual(before, after)) continue;
    }
    put((s ??= {}), key, check ? checked(after, 'newContext', path, key) : after);
    put((o ??= {}), key, check ? checked(before, 'oldContext', path, key) : before);
  }
  const bKeys = Object.keys(b);
  if (bKeys.length !== aKeys.length - removed) {
    for (let i = 0; i < bKeys.length; i++) {
      const key = bKeys[i] as string;
      if (!hasOwn(a, key)) put((s ??= {}), key, check ? checked(b[key], 'newContext', path, key) : b[key]);
    }
  }
  if (s === undefined && d === undefined && c === undefined && arrays === undefined) return undefined;
  const node: { s?: JsonObject; o?: JsonObject; d?: JsonObject; c?: Record<string, ObjectNode>; a?: Record<string, ArrayNode> } = {};
  if (s !== undefined) node.s = s;
  if (o !== undefined) node.o = o;
  if (d !== undefined) node.d = d;
  if (c !== undefined) node.c = c;
  if (arrays !== undefined) node.a = arrays;
  return node;
}

// Collects an array node's parts in old-index order.
class ArrayNodeBuilder {
  c: Record<string, ObjectNode> | undefined;
  a: Record<string, ArrayNode> | undefined;
  p: [number, Json[], Json[]][] | undefined;

  splice(index: number, removed: Json[], inserted: Json[]): void {
    const p = (this.p ??= []);
    const last = p[p.length - 1];
    if (last !== undefined && last[0] + last[1].length === index) {
      last[1].push(...removed);
      last[2].push(...inserted);
    } else {
      p.push([index, removed, inserted]);
    }
  }

  build(): ArrayNode | undefined {
    if (this.c === undefined && this.a === undefined && this.p === undefined) return undefined;
    const node: { c?: Record<string, ObjectNode>; a?: Record<string, ArrayNode>; p?: [number, Json[], Json[]][] } = {};
    if (this.c !== undefined) node.c = this.c;
    if (this.a !== undefined) node.a = this.a;
    if (this.p !== undefined) node.p = this.p;
    return node;
  }
}

/** The change from array `a` to array `b`, or `undefined` if they are equal. */
export function diffArray(a: readonly Json[], b: readonly Json[], path: Segment[], mode: DiffMode): ArrayNode | undefined {
  if (path.length >= MAX_DELTA_DEPTH) {
    throw new ValidationError('newContext', `${where(path)}: nesting is deeper than the limit of ${MAX_DELTA_DEPTH} (or a value contains itself: a cycle)`);
  }
  let start = 0;
  let endA = a.length;
  let endB = b.length;
  while (start < endA && start < endB && same(a[start], b[start])) start++;
  while (endA > start && endB > start && same(a[endA - 1], b[endB - 1])) {
    endA--;
    endB--;
  }
  if (start === endA && start === endB) return undefined;
  const out = new ArrayNodeBuilder();
  const middleA = endA - start;
  const middleB = endB - start;
  if (middleA === 0 || middleB === 0) {
    gap(a, start, endA, b, start, endB, path, mode, out);
    return out.build();
  }
  const matches = myersMatches(a, start, endA, b, start, endB, MAX_ARRAY_EDITS);
  if (matches === undefined) {
    gap(a, start, endA, b, start, endB, path, mode, out);
    return out.build();
  }
  let x = start;
  let y = start;
  for (let m = 0; m < matches.length; m += 2) {
    const mx = matches[m] as number;
    const my = matches[m + 1] as number;
    if (mx > x || my > y) gap(a, x, mx, b, y, my, path, mode, out);
    x = mx + 1;
    y = my + 1;
  }
  if (x < endA || y < endB) gap(a, x, endA, b, y, endB, path, mode, out);
  return out.build();
}

// Unmatched items a[x0..x1) → b[y0..y1): paired by index when as many, else one splice.
function gap(
  a: readonly Json[],
  x0: number,
  x1: number,
  b: readonly Json[],
  y0: number,
  y1: number,
  path: Segment[],
  mode: DiffMode,
  out: ArrayNodeBuilder,
): void {
  const check = mode.check;
  if (x1 - x0 !== y1 - y0) {
    const removed = a.slice(x0, x1);
    const inserted = b.slice(y0, y1);
    if (check) {
      for (let i = 0; i < removed.length; i++) checked(removed[i], 'oldContext', path, x0 + i);
      for (let i = 0; i < inserted.length; i++) checked(inserted[i], 'newContext', path, y0 + i);
    }
    out.splice(x0, removed, inserted);
    return;
  }
  for (let i = 0; x0 + i < x1; i++) {
    const before = a[x0 + i] as Json;
    const after = b[y0 + i] as Json;
    if (before === after && skippable(before)) continue;
    if (typeof before === 'object' && before !== null && typeof after === 'object' && after !== null) {
      const beforeIsArray = Array.isArray(before);
      if (beforeIsArray && Array.isArray(after)) {
        path.push(x0 + i);
        const child = diffArray(before, after, path, mode);
        path.pop();
        if (child !== undefined) put((out.a ??= indexMap()), String(x0 + i), child);
        continue;
      }
      if (!beforeIsArray && !Array.isArray(after) && isPlainObject(before) && isPlainObject(after)) {
        path.push(x0 + i);
        const child = diffObject(before, after, path, mode);
        path.pop();
        if (child !== undefined) put((out.c ??= indexMap()), String(x0 + i), child);
        continue;
      }
      if (jsonEqual(before, after)) continue;
    } else if (jsonEqual(before, after)) {
      continue;
    }
    out.splice(
      x0 + i,
      [check ? checked(before, 'oldContext', path, x0 + i) : before],
      [check ? checked(after, 'newContext', path, y0 + i) : after],
    );
  }
}

/**
 * Myers' O(ND) diff of a[aLo..aHi) and b[bLo..bHi): the matched index pairs (absolute, as a flat
 * list x0, y0, x1, y1, … in order) of a longest common subsequence, or `undefined` when more than
 * `maxEdits` inserts and removes are needed (the caller then pairs items by index).
 */
function myersMatches(a: readonly Json[], aLo: number, aHi: number, b: readonly Json[], bLo: number, bHi: number, maxEdits: number): number[] | undefined {
  const n = aHi - aLo;
  const m = bHi - bLo;
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && (v[offset + k - 1] as number) < (v[offset + k + 1] as number)) ? (v[offset + k + 1] as number) : (v[offset + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && same(a[aLo + x], b[bLo + y])) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) return backtrack(trace, d, n, m, offset, aLo, bLo);
    }
  }
  return undefined;
}

function backtrack(trace: readonly Int32Array[], edits: number, n: number, m: number, offset: number, aLo: number, bLo: number): number[] {
  const reversed: number[] = [];
  let x = n;
  let y = m;
  for (let d = edits; d > 0; d--) {
    const v = trace[d] as Int32Array;
    const k = x - y;
    const prevK = k === -d || (k !== d && (v[offset + k - 1] as number) < (v[offset + k + 1] as number)) ? k + 1 : k - 1;
    const prevX = v[offset + prevK] as number;
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      reversed.push(bLo + y, aLo + x);
    }
    x = prevX;
    y = prevY;
  }
  while (x > 0 && y > 0) {
    x--;
    y--;
    reversed.push(bLo + y, aLo + x);
  }
  return reversed.reverse();
}
