// Applying a validated (or engine-made) delta, full or wire. Copies only what the delta touches.

import { ValidationError } from '../errors.js';
import type { Json, JsonObject } from '../types.js';
import { describe } from '../validation.js';
import { type Segment, where } from './diff.js';
import { copyObject, hasOwn, isPlainObject, put } from './json.js';
import { type ArrayNode, type ObjectNode, decodePointer, parseIndex, removedCount } from './node.js';

/** `target` with `node` applied; `target` must be a plain object. */
export function applyObject(target: unknown, node: ObjectNode, argument: string, path: Segment[]): JsonObject {
  if (!isPlainObject(target)) {
    throw new ValidationError(argument, `${where(path)}: changes inside an object, but the context has ${describe(target)} there`);
  }
  const { s, d, c, a, t } = node;
  if (s === undefined && d === undefined && c === undefined && a === undefined && t === undefined) return target;
  const out: JsonObject = copyObject(target);
  if (s !== undefined) {
    for (const key of Object.keys(s)) put(out, key, s[key]);
  }
  if (d !== undefined) {
    const keys = Array.isArray(d) ? (d as readonly string[]) : Object.keys(d);
    for (const key of keys) if (hasOwn(out, key)) delete out[key];
  }
  if (c !== undefined) {
    for (const key of Object.keys(c)) {
      path.push(key);
      if (!hasOwn(out, key)) throw new ValidationError(argument, `${where(path)}: changes inside a key the context does not have`);
      put(out, key, applyObject(out[key], c[key] as ObjectNode, argument, path));
      path.pop();
    }
  }
  if (a !== undefined) {
    for (const key of Object.keys(a)) {
      path.push(key);
      if (!hasOwn(out, key)) throw new ValidationError(argument, `${where(path)}: changes inside a key the context does not have`);
      put(out, key, applyArray(out[key], a[key] as ArrayNode, argument, path));
      path.pop();
    }
  }
  if (t !== undefined) {
    for (const pointer of Object.keys(t)) {
      const segments = decodePointer(pointer) as readonly string[];
      const depth = path.length;
      const first = segments[1] as string;
      path.push(first);
      if (!hasOwn(out, first)) throw new ValidationError(argument, `${where(path)}: changes inside a key the context does not have`);
      put(out, first, applyAt(out[first], segments, 2, t[pointer] as ObjectNode, argument, path));
      path.length = depth;
    }
  }
  return out;
}

// The value at segments[i..] below `target` changed by `node`, copying the way down.
function applyAt(target: unknown, segments: readonly string[], i: number, node: ObjectNode, argument: string, path: Segment[]): Json {
  if (i === segments.length) return applyObject(target, node, argument, path);
  const segment = segments[i] as string;
  if (Array.isArray(target)) {
    const index = parseIndex(segment);
    path.push(segment);
    if (index < 0 || index >= target.length) {
      throw new ValidationError(argument, `${where(path)}: changes inside item ${JSON.stringify(segment)} of an array of ${target.length}`);
    }
    const out = target.slice();
    out[index] = applyAt(target[index], segments, i + 1, node, argument, path);
    return out;
  }
  if (!isPlainObject(target)) {
    throw new ValidationError(argument, `${where(path)}: changes inside an object, but the context has ${describe(target)} there`);
  }
  path.push(segment);
  if (!hasOwn(target, segment)) throw new ValidationError(argument, `${where(path)}: changes inside a key the context does not have`);
  const out: JsonObject = copyObject(target);
  put(out, segment, applyAt(target[segment], segments, i + 1, node, argument, path));
  return out;
}

function changedItem(target: readonly Json[], key: string, argument: string, path: Segment[]): number {
  const index = parseIndex(key);
  if (index < 0 || index >= target.length) {
    throw new ValidationError(argument, `${where(path)}: changes inside item ${key} of an array of ${target.length}`);
  }
  return index;
}

/** `target` with `node` applied; `target` must be an array. */
export function applyArray(target: unknown, node: ArrayNode, argument: string, path: Segment[]): Json[] {
  if (!Array.isArray(target)) {
    throw new ValidationError(argument, `${where(path)}: changes inside an array, but the context has ${describe(target)} there`);
  }
  const items = target as readonly Json[];
  const { c, a, p } = node;
  // Changed items first, at their old indexes: splices never remove a changed item.
  let changed: Json[] = items as Json[];
  if (c !== undefined || a !== undefined) {
    changed = items.slice();
    if (c !== undefined) {
      for (const key of Object.keys(c)) {
        const index = changedItem(items, key, argument, path);
        path.push(key);
        changed[index] = applyObject(items[index], c[key] as ObjectNode, argument, path);
        path.pop();
      }
    }
    if (a !== undefined) {
      for (const key of Object.keys(a)) {
        const index = changedItem(items, key, argument, path);
        path.push(key);
        changed[index] = applyArray(items[index], a[key] as ArrayNode, argument, path);
        path.pop();
      }
    }
  }
  if (p === undefined || p.length === 0) return changed === items ? items.slice() : changed;
  const out: Json[] = [];
  let from = 0;
  for (const splice of p) {
    const [index, , inserted] = splice;
    const end = index + removedCount(splice);
    if (end > items.length) {
      throw new ValidationError(argument, `${where(path)}: removes items up to index ${end} of an array of ${items.length}`);
    }
    for (let i = from; i < index; i++) out.push(changed[i] as Json);
    for (let i = 0; i < inserted.length; i++) out.push(inserted[i] as Json);
    from = end;
  }
  for (let i = from; i < items.length; i++) out.push(changed[i] as Json);
  return out;
}
