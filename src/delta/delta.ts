/*
 * The delta format.
 *
 * A delta is a tree of *nodes*: object nodes for objects of the context, array nodes for arrays.
 * The delta itself is the object node of the context's root. An object node is a JSON object whose
 * only keys are these tags, each optional and omitted when empty:
 *
 *   "s": { key: newValue }   set: the key takes this value (added, or replaced whole)
 *   "o": { key: oldValue }   old: for a key in "s" that existed before, its previous value
 *                            (a key in "s" but not in "o" was absent: it is *added*)
 *   "d": { key: oldValue }   deleted: the key is removed; its previous value is kept
 *   "c": { key: objectNode } the key held an object before and after, and changed inside
 *   "a": { key: arrayNode }  the key held an array before and after, and changed inside
 *
 * An array node has these tags, every index being one of the *old* array, as a decimal string
 * for "c" and "a" (e.g. "17"):
 *
 *   "c": { index: objectNode }  the item was an object before and after, and changed inside
 *   "a": { index: arrayNode }   the item was an array before and after, and changed inside
 *   "p": [[index, removed, inserted], …]  splices, in order, apart: the old items from `index`
 *                               on, `removed` (their old values), are replaced by the items
 *                               `inserted` (an insert removes nothing, a removal inserts nothing)
 *
 * A key appears in at most one of "s", "d", "c", "a"; the keys of "o" are a subset of those of
 * "s"; an item changed inside is never one a splice removes. User keys only ever appear as keys
 * of these maps, never beside the tags, so no context can be mistaken for a change (keys named
 * "s", "action", "__proto__" and "" included). An added empty map is `{"s": {"key": {}}}`, a real
 * change. The empty delta is `{}`.
 *
 * Example: `{status: "online", metadata: {theme: "light"}, tags: ["a", "b"]}` → `{status:
 * "online", metadata: {theme: "dark"}, tags: ["a", "c", "b"]}` is `{"c": {"metadata": {"s":
 * {"theme": "dark"}, "o": {"theme": "light"}}}, "a": {"tags": {"p": [[1, [], ["c"]]]}}}`.
 *
 * Because every change keeps the value it replaced, a delta can be undone; merging relies on that
 * to recover, for a key changed inside and then replaced, its value before the first change, and
 * formatDelta on it to report old values. A *wire* delta (toWireDelta) is what a client needs to
 * apply it and no more: the root has `"w": 1`; there is no "o"; "d" is the list of removed keys;
 * a splice has the count of items it removes instead of their values; and an object node may
 * have "t": { "/json/pointer": objectNode }, a chain of single changes inside objects and arrays
 * written as one RFC 6901 pointer (each segment an object key, or an index of the array there).
 */

import { ValidationError } from '../errors.js';
import type { Delta, Json, JsonObject } from '../types.js';
import { describe, validateContextId, validateVersion } from '../validation.js';
import { applyObject } from './apply.js';
import { diffObject } from './diff.js';
import { hasOwn, isPlainObject, jsonEqual, put } from './json.js';
import { fromMergeNode, mergeInto, newMergeNode, toShallowMergeNode } from './merge.js';
import { type ArrayNode, type ObjectNode, type Splice, encodePointer, indexMap, parseIndex, removedCount } from './node.js';
import { WIRE_MARK, parseDelta } from './parse.js';

export { MAX_DELTA_DEPTH } from './diff.js';

/** What happened to one key or array item, in a {@link FormattedDelta}. */
export type ChangeAction = 'added' | 'modified' | 'removed';

/** One changed key (or array item) of a {@link FormattedDelta}. */
export interface FormattedChange {
  /**
   * The full path from the root of the context, e.g. `['user', 'settings', 'theme']`; array items
   * as decimal strings (`['items', '3', 'done']`), numbered as in the array once the changes
   * listed before have been made.
   */
  readonly path: string[];
  readonly action: ChangeAction;
  /** The new value; present for `added` and `modified`. */
  readonly value?: Json;
  /** The value before the change; present for `modified` and `removed`. */
  readonly oldValue?: Json;
}

/** A delta as a flat list of changes, for logs, audit trails and UIs. */
export interface FormattedDelta {
  readonly contextId: string;
  readonly version: number;
  readonly changes: FormattedChange[];
}

const CHECKED = { check: true };
const TRUSTED = { check: false };

// ---------------------------------------------------------------------------------------------
// calculateDelta

/**
 * The delta that takes `oldContext` to `newContext`: `applyDelta(oldContext, delta)` deep-equals
 * `newContext`. Objects are compared key by key at every depth; arrays item by item (equal ends
 * skipped, then the fewest inserts and removals, items at the same place compared inside), so a
 * change to one item of a long array is a change to that item only. Scalars, and values that
 * change type, are replaced whole. Equal contexts give the empty delta (see {@link isEmptyDelta}).
 *
 * Subtrees that are the same reference in both contexts are skipped without being read, which
 * makes a diff after a structurally shared update cost only the changed path. Every value that
 * goes into the delta is checked to be JSON; a value that is not throws `ValidationError` naming
 * its path (e.g. `newContext.a.b`).
 */
export function calculateDelta(oldContext: JsonObject, newContext: JsonObject): Delta {
  if (!isPlainObject(oldContext)) {
    throw new ValidationError('oldContext', `must be a JSON object, got ${describe(oldContext)}`);
  }
  if (!isPlainObject(newContext)) {
    throw new ValidationError('newContext', `must be a JSON object, got ${describe(newContext)}`);
  }
  return (diffObject(oldContext, newContext, [], CHECKED) ?? {}) as Delta;
}

/**
 * For the engine, on two contexts it has validated itself: {@link calculateDelta} without checking
 * the values it puts in the delta.
 */
export function calculateTrustedDelta(oldContext: JsonObject, newContext: JsonObject): Delta {
  return (diffObject(oldContext, newContext, [], TRUSTED) ?? {}) as Delta;
}

// ---------------------------------------------------------------------------------------------
// applyDelta

/**
 * The context after `delta`: what a client runs on the context it holds. Takes a delta as stored
 * (from calculateDelta or mergeDeltas) or as sent (from {@link toWireDelta}); both give the same
 * context. Pure: `context` and `delta` are never modified. The result shares every unchanged
 * subtree with `context` and the new values with `delta`, so treat all three as immutable.
 *
 * Lenient where the outcome is unambiguous (deleting a key that is already gone; setting a key
 * regardless of its current value) and strict where it is not: a malformed delta, or changes
 * inside a key that is missing or not an object (or array) in `context`, or past the end of an
 * array, throw `ValidationError` naming `delta`. Only the parts of `context` the delta touches are
 * inspected.
 */
export function applyDelta(context: JsonObject, delta: Delta): JsonObject {
  if (!isPlainObject(context)) {
    throw new ValidationError('context', `must be a JSON object, got ${describe(context)}`);
  }
  const { node } = parseDelta(delta, 'delta', 'any');
  return applyObject(context, node, 'delta', []);
}

/**
 * For the engine, on a delta it made or stored itself (full or wire): {@link applyDelta} without
 * validating the delta's shape and values first. A delta that does not fit `context` still throws
 * `ValidationError`.
 */
export function applyTrustedDelta(context: JsonObject, delta: Delta): JsonObject {
  return applyObject(context, delta as ObjectNode, 'delta', []);
}

// ---------------------------------------------------------------------------------------------
// mergeDeltas

/**
 * One delta with the effect of all of `deltas`, applied in order: applying the result equals
 * applying each delta in turn. For every changed key the result keeps the old value from the
 * earliest delta and the new value from the latest; a key that ends as it started (added then
 * removed, changed and changed back) is left out. `mergeDeltas([])` is the empty delta.
 *
 * Takes stored deltas only: a wire delta ({@link toWireDelta}) has no old values, without which a
 * merge cannot tell a change from an addition, so it is refused with `ValidationError`. Merge the
 * stored deltas, then make the merge a wire delta.
 *
 * Throws `ValidationError` naming `deltas[i]` when a delta is malformed or cannot follow the ones
 * before it (e.g. changes inside a key an earlier delta removed).
 */
export function mergeDeltas(deltas: readonly Delta[]): Delta {
  if (!Array.isArray(deltas)) {
    throw new ValidationError('deltas', `must be an array of deltas, got ${describe(deltas)}`);
  }
  const acc = newMergeNode();
  for (let i = 0; i < deltas.length; i++) {
    const argument = `deltas[${i}]`;
    mergeInto(acc, parseDelta(deltas[i], argument, 'full').node, argument, []);
  }
  return fromMergeNode(acc);
}

/**
 * For the engine, on deltas read back from storage: {@link mergeDeltas} checking the structure of
 * each (nodes, tags, splices: what a merge relies on) but not the values they hold, which were
 * validated when they were written. A stored row that is not a delta still throws `ValidationError`.
 * With `base` (a stored-form merge the engine made of the deltas just before), the result covers
 * `base` and then `deltas`.
 */
export function mergeStoredDeltas(deltas: readonly Delta[], base?: Delta): Delta {
  // A merge the engine made itself, taken as the start without checks (deltas[0] follows it), its
  // parts expanded only where a delta changes inside them and shared with it elsewhere.
  const acc = base === undefined ? newMergeNode() : toShallowMergeNode(base as ObjectNode);
  for (let i = 0; i < deltas.length; i++) {
    const argument = `deltas[${i}]`;
    mergeInto(acc, parseDelta(deltas[i], argument, 'full', 'structure').node, argument, []);
  }
  return fromMergeNode(acc);
}

/** For the engine, on stored deltas it made itself: {@link mergeDeltas} without validating each. */
export function mergeTrustedDeltas(deltas: readonly Delta[]): Delta {
  if (deltas.length === 1) return deltas[0] as Delta;
  const acc = newMergeNode();
  for (let i = 0; i < deltas.length; i++) mergeInto(acc, deltas[i] as ObjectNode, `deltas[${i}]`, []);
  return fromMergeNode(acc);
}

// ---------------------------------------------------------------------------------------------
// toWireDelta

/**
 * `delta` as a client needs it to apply it, and nothing more: old values (which stay in storage,
 * for {@link formatDelta} and {@link mergeDeltas}) are dropped, and chains of single changes deep
 * inside are written as one path. `applyDelta(context, toWireDelta(delta))` equals
 * `applyDelta(context, delta)`. A wire delta is marked as one (`"w": 1`), so the functions that
 * need old values refuse it rather than misread it; given a wire delta, returns it as it is.
 * Throws `ValidationError` if `delta` is malformed.
 */
export function toWireDelta(delta: Delta): Delta {
  const { node, wire } = parseDelta(delta, 'delta', 'any');
  return wire ? delta : trustedWireDelta(node as Delta);
}

/** For the engine, on a stored delta it made itself: {@link toWireDelta} without validating it. */
export function trustedWireDelta(delta: Delta): Delta {
  if (hasOwn(delta, WIRE_MARK)) return delta;
  const body = wireObject(delta as ObjectNode);
  if (Object.keys(body).length === 0) return {};
  const out: JsonObject = { [WIRE_MARK]: 1 };
  for (const key of Object.keys(body)) out[key] = body[key] as Json;
  return out;
}

// The single change below a node, if it has exactly one (changes inside one key or item, nothing
// else): what a pointer chain can run through.
function onlyChild(node: ObjectNode | ArrayNode, isArray: boolean): { key: string; node: ObjectNode | ArrayNode; isArray: boolean } | undefined {
  const n = node as ObjectNode & ArrayNode;
  if (n.s !== undefined || n.d !== undefined || n.p !== undefined || n.t !== undefined) return undefined;
  if (!isArray && n.o !== undefined) return undefined;
  const c = n.c === undefined ? [] : Object.keys(n.c);
  const a = n.a === undefined ? [] : Object.keys(n.a);
  if (c.length + a.length !== 1) return undefined;
  if (c.length === 1) return { key: c[0] as string, node: (n.c as Record<string, ObjectNode>)[c[0] as string] as ObjectNode, isArray: false };
  return { key: a[0] as string, node: (n.a as Record<string, ArrayNode>)[a[0] as string] as ArrayNode, isArray: true };
}

function wireObject(node: ObjectNode): JsonObject {
  const out: JsonObject = {};
  if (node.s !== undefined && Object.keys(node.s).length > 0) out.s = node.s;
  if (node.d !== undefined) {
    const keys = Array.isArray(node.d) ? [...(node.d as readonly string[])] : Object.keys(node.d);
    if (keys.length > 0) out.d = keys;
  }
  let c: JsonObject | undefined;
  let a: JsonObject | undefined;
  let t: JsonObject | undefined;
  for (const [map, isArray] of [[node.c, false], [node.a, true]] as const) {
    if (map === undefined) continue;
    for (const key of Object.keys(map)) {
      const child = (map as Record<string, ObjectNode | ArrayNode>)[key] as ObjectNode | ArrayNode;
      // Follow the chain down while there is one change only; it may end in an object node.
      const segments = [key];
      let end: ObjectNode | undefined = isArray ? undefined : (child as ObjectNode);
      let endLength = isArray ? 0 : 1;
      let here: { node: ObjectNode | ArrayNode; isArray: boolean } = { node: child, isArray };
      for (let next = onlyChild(child, isArray); next !== undefined; next = onlyChild(here.node, here.isArray)) {
        segments.push(next.key);
        here = next;
        if (!next.isArray) {
          end = next.node as ObjectNode;
          endLength = segments.length;
        }
      }
      if (end !== undefined && endLength >= 2) {
        put((t ??= {}), encodePointer(segments.slice(0, endLength)), wireObject(end));
      } else if (isArray) {
        const wired = wireArray(child as ArrayNode);
        if (Object.keys(wired).length > 0) put((a ??= {}), key, wired);
      } else {
        const wired = wireObject(child as ObjectNode);
        if (Object.keys(wired).length > 0) put((c ??= {}), key, wired);
      }
    }
  }
  if (node.t !== undefined) {
    for (const pointer of Object.keys(node.t)) put((t ??= {}), pointer, wireObject(node.t[pointer] as ObjectNode));
  }
  if (c !== undefined) out.c = c;
  if (a !== undefined) out.a = a;
  if (t !== undefined) out.t = t;
  return out;
}

function wireArray(node: ArrayNode): JsonObject {
  const out: JsonObject = {};
  if (node.c !== undefined) {
    const c = indexMap<Json>();
    for (const key of Object.keys(node.c)) c[key] = wireObject(node.c[key] as ObjectNode);
    if (Object.keys(c).length > 0) out.c = c;
  }
  if (node.a !== undefined) {
    const a = indexMap<Json>();
    for (const key of Object.keys(node.a)) a[key] = wireArray(node.a[key] as ArrayNode);
    if (Object.keys(a).length > 0) out.a = a;
  }
  if (node.p !== undefined && node.p.length > 0) {
    out.p = node.p.map((splice): Json => [splice[0], removedCount(splice), splice[2] as Json[]]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// isEmptyDelta, formatDelta

function isEmptyObjectNode(node: ObjectNode): boolean {
  if (node.s !== undefined && Object.keys(node.s).length > 0) return false;
  if (node.d !== undefined && (Array.isArray(node.d) ? node.d.length : Object.keys(node.d).length) > 0) return false;
  for (const map of [node.c, node.t]) {
    if (map === undefined) continue;
    for (const key of Object.keys(map)) if (!isEmptyObjectNode(map[key] as ObjectNode)) return false;
  }
  if (node.a !== undefined) {
    for (const key of Object.keys(node.a)) if (!isEmptyArrayNode(node.a[key] as ArrayNode)) return false;
  }
  return true;
}

function isEmptyArrayNode(node: ArrayNode): boolean {
  if (node.p !== undefined && node.p.some((splice) => removedCount(splice) > 0 || splice[2].length > 0)) return false;
  if (node.c !== undefined) for (const key of Object.keys(node.c)) if (!isEmptyObjectNode(node.c[key] as ObjectNode)) return false;
  if (node.a !== undefined) for (const key of Object.keys(node.a)) if (!isEmptyArrayNode(node.a[key] as ArrayNode)) return false;
  return true;
}

/** Whether `delta` (stored or wire) changes nothing (the engine writes no version for it). Throws `ValidationError` if malformed. */
export function isEmptyDelta(delta: Delta): boolean {
  return isEmptyObjectNode(parseDelta(delta, 'delta', 'any').node);
}

function collectObject(node: ObjectNode, path: string[], out: FormattedChange[]): void {
  const keys = new Set<string>();
  for (const map of [node.s, node.d, node.c, node.a]) if (map !== undefined) for (const key of Object.keys(map)) keys.add(key);
  // Sorted so the list reads the same whatever order the delta's maps were built in.
  for (const key of [...keys].sort()) {
    const keyPath = [...path, key];
    if (node.s !== undefined && hasOwn(node.s, key)) {
      const value = node.s[key] as Json;
      if (node.o !== undefined && hasOwn(node.o, key)) {
        out.push({ path: keyPath, action: 'modified', value, oldValue: node.o[key] as Json });
      } else {
        out.push({ path: keyPath, action: 'added', value });
      }
    } else if (node.d !== undefined && hasOwn(node.d, key)) {
      out.push({ path: keyPath, action: 'removed', oldValue: (node.d as JsonObject)[key] as Json });
    } else if (node.c !== undefined && hasOwn(node.c, key)) {
      collectObject(node.c[key] as ObjectNode, keyPath, out);
    } else {
      collectArray((node.a as Record<string, ArrayNode>)[key] as ArrayNode, keyPath, out);
    }
  }
}

// In old-index order; each path numbers the item as it is once the changes before it are made.
function collectArray(node: ArrayNode, path: string[], out: FormattedChange[]): void {
  const events: [number, number, Splice | ObjectNode | ArrayNode, boolean][] = [];
  for (const splice of node.p ?? []) events.push([splice[0], 0, splice, false]);
  if (node.c !== undefined) for (const key of Object.keys(node.c)) events.push([parseIndex(key), 1, node.c[key] as ObjectNode, false]);
  if (node.a !== undefined) for (const key of Object.keys(node.a)) events.push([parseIndex(key), 1, node.a[key] as ArrayNode, true]);
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let shift = 0;
  for (const [index, kind, part, isArray] of events) {
    if (kind === 1) {
      const itemPath = [...path, String(index + shift)];
      if (isArray) collectArray(part as ArrayNode, itemPath, out);
      else collectObject(part as ObjectNode, itemPath, out);
      continue;
    }
    const [, removed, inserted] = part as [number, readonly Json[], readonly Json[]];
    const at = index + shift;
    const paired = Math.min(removed.length, inserted.length);
    for (let j = 0; j < paired; j++) {
      if (jsonEqual(removed[j], inserted[j])) continue;
      out.push({ path: [...path, String(at + j)], action: 'modified', value: inserted[j] as Json, oldValue: removed[j] as Json });
    }
    for (let j = paired; j < inserted.length; j++) out.push({ path: [...path, String(at + j)], action: 'added', value: inserted[j] as Json });
    for (let j = paired; j < removed.length; j++) out.push({ path: [...path, String(at + paired)], action: 'removed', oldValue: removed[j] as Json });
    shift += inserted.length - removed.length;
  }
}

/**
 * `delta` as a flat list of changes, each with its full path from the root of the context (at
 * every depth, array items included), object keys sorted, array items in order. A key replaced
 * whole (including an object that became a scalar or the reverse) is one `modified` change;
 * changes inside an object or array that stayed one are listed key by key, item by item. Takes a
 * stored delta (a wire delta has no old values to report). Throws `ValidationError` if `delta`,
 * `contextId` or `version` is invalid.
 */
export function formatDelta(delta: Delta, options: { contextId: string; version: number }): FormattedDelta {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError('options', `must be an object with contextId and version, got ${describe(options)}`);
  }
  const { contextId, version } = options;
  validateContextId(contextId, 'contextId');
  validateVersion(version, 'version');
  const { node } = parseDelta(delta, 'delta', 'full');
  const changes: FormattedChange[] = [];
  collectObject(node, [], changes);
  return { contextId, version, changes };
}
