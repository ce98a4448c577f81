/*
 * The delta format.
 *
 * A delta is a tree of *nodes*, one per object level of the context it changes. A node is a JSON
 * object whose only keys are these four tags, each optional and omitted when empty:
 *
 *   "s": { key: newValue }   set: the key takes this value (added, or replaced whole)
 *   "o": { key: oldValue }   old: for a key in "s" that existed before, its previous value
 *                            (a key in "s" but not in "o" was absent: it is *added*)
 *   "d": { key: oldValue }   deleted: the key is removed; its previous value is kept
 *   "c": { key: node }       children: the key held an object before and after, and changed inside
 *
 * A key appears in at most one of "s", "d", "c"; the keys of "o" are a subset of those of "s".
 * User keys only ever appear as keys of these four maps, never beside the tags, so no context can
 * be mistaken for a change (keys named "s", "action", "__proto__" and "" included). Values are
 * stored whole: arrays, scalars, null, and objects that replace a non-object (or are added) are in
 * "s"; only an object that stays an object is descended into with "c". An added empty map is
 * `{"s": {"key": {}}}`, a real change. The empty delta is `{}`.
 *
 * Example: `{status: "online", metadata: {theme: "light"}}` → `{status: "online", metadata:
 * {theme: "dark"}, tags: []}` is `{"s": {"tags": []}, "c": {"metadata": {"s": {"theme": "dark"},
 * "o": {"theme": "light"}}}}`.
 *
 * Because every change keeps the value it replaced, a delta can be undone; merging relies on that
 * to recover, for a key changed inside and then replaced, its value before the first change.
 */

import { ValidationError } from '../errors.js';
import type { Delta, Json, JsonObject } from '../types.js';
import { describe, validateContextId, validateJson, validateVersion } from '../validation.js';
import { hasOwn, isPlainObject, jsonEqual, setOwn, wrapAtPath } from './json.js';

/**
 * Deepest object nesting a delta may describe (context levels, plus the nesting of the values it
 * holds). Deeper input is refused with `ValidationError` rather than risking the call stack.
 */
export const MAX_DELTA_DEPTH = 1000;

/** What happened to one key, in a {@link FormattedDelta}. */
export type ChangeAction = 'added' | 'modified' | 'removed';

/** One changed key of a {@link FormattedDelta}. */
export interface FormattedChange {
  /** The full key path from the root of the context, e.g. `['user', 'settings', 'theme']`. */
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

// A node once validated. The maps are the user's objects: read them only through own keys.
interface Node {
  readonly s?: JsonObject;
  readonly o?: JsonObject;
  readonly d?: JsonObject;
  readonly c?: { readonly [key: string]: Node };
}

const TAGS = new Set(['s', 'o', 'd', 'c']);

function where(path: readonly string[]): string {
  return path.length === 0 ? 'at the top level' : `at key path ${JSON.stringify(path)}`;
}

// Validates one tag map and its values in a single validateJson pass (which also checks the keys
// for characters storage can't keep), reporting the error under `argument` with its location.
function validateMap(
  map: unknown,
  tag: string,
  argument: string,
  path: readonly string[],
  depth: number,
): asserts map is JsonObject {
  if (!isPlainObject(map)) {
    throw new ValidationError(argument, `${where(path)}: "${tag}" must be an object, got ${describe(map)}`);
  }
  try {
    validateJson(map, tag, Math.max(1, MAX_DELTA_DEPTH - depth));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(argument, `${where(path)}: ${error.message.replace(/^invalid /, '')}`, { cause: error });
  }
}

function validateNode(raw: unknown, argument: string, path: string[], depth: number): Node {
  if (!isPlainObject(raw)) {
    throw new ValidationError(argument, `${where(path)}: a delta node must be an object, got ${describe(raw)}`);
  }
  if (depth >= MAX_DELTA_DEPTH) {
    throw new ValidationError(argument, `${where(path)}: nesting is deeper than the limit of ${MAX_DELTA_DEPTH}`);
  }
  for (const key of Object.keys(raw)) {
    if (!TAGS.has(key)) {
      throw new ValidationError(argument, `${where(path)}: unknown key ${JSON.stringify(key)} (a delta node has only "s", "o", "d", "c")`);
    }
  }
  const { s, o, d, c }: { s?: unknown; o?: unknown; d?: unknown; c?: unknown } = raw;
  if (s !== undefined) validateMap(s, 's', argument, path, depth);
  if (o !== undefined) {
    validateMap(o, 'o', argument, path, depth);
    for (const key of Object.keys(o)) {
      if (s === undefined || !hasOwn(s, key)) {
        throw new ValidationError(argument, `${where(path)}: "o" has ${JSON.stringify(key)}, which is not in "s"`);
      }
    }
  }
  if (d !== undefined) {
    validateMap(d, 'd', argument, path, depth);
    for (const key of Object.keys(d)) {
      if (s !== undefined && hasOwn(s, key)) {
        throw new ValidationError(argument, `${where(path)}: ${JSON.stringify(key)} is both set and deleted`);
      }
    }
  }
  if (c !== undefined) {
    if (!isPlainObject(c)) {
      throw new ValidationError(argument, `${where(path)}: "c" must be an object, got ${describe(c)}`);
    }
    for (const key of Object.keys(c)) {
      if ((s !== undefined && hasOwn(s, key)) || (d !== undefined && hasOwn(d, key))) {
        throw new ValidationError(argument, `${where(path)}: ${JSON.stringify(key)} is both changed inside and set or deleted`);
      }
      path.push(key);
      validateNode(c[key], argument, path, depth + 1);
      path.pop();
    }
    // Child keys are user keys too: check their characters the way validateJson checks any key.
    validateMap(Object.fromEntries(Object.keys(c).map((key) => [key, null])), 'c', argument, path, depth);
  }
  return raw as Node;
}

function parseDelta(delta: unknown, argument: string): Node {
  return validateNode(delta, argument, [], 0);
}

function isEmptyNode(node: Node): boolean {
  if (node.s !== undefined && Object.keys(node.s).length > 0) return false;
  if (node.d !== undefined && Object.keys(node.d).length > 0) return false;
  if (node.c !== undefined) {
    for (const key of Object.keys(node.c)) if (!isEmptyNode(node.c[key] as Node)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// calculateDelta

// A value about to go into a delta: it must be JSON, since the delta is stored as JSON. Only
// changed values are checked (the contexts themselves are validated by whoever stores them), so
// the cost follows the size of the change, not of the context.
function checkDeltaValue(value: unknown, argument: string, path: string[], key: string): Json {
  try {
    validateJson(value, argument, MAX_DELTA_DEPTH);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    // Rerun on a wrapper only now, to name the exact path (`newContext.a.b`) without building
    // path strings on the hot path.
    validateJson(wrapAtPath([...path, key], value), argument, MAX_DELTA_DEPTH);
    throw error;
  }
  return value as Json;
}

function diff(a: JsonObject, b: JsonObject, path: string[]): Node | undefined {
  let s: [string, Json][] | undefined;
  let o: [string, Json][] | undefined;
  let d: [string, Json][] | undefined;
  let c: [string, Node][] | undefined;
  if (path.length >= MAX_DELTA_DEPTH) {
    throw new ValidationError('newContext', `${where(path)}: nesting is deeper than the limit of ${MAX_DELTA_DEPTH}`);
  }
  for (const key of Object.keys(a)) {
    const before = a[key];
    if (!hasOwn(b, key)) {
      (d ??= []).push([key, checkDeltaValue(before, 'oldContext', path, key)]);
      continue;
    }
    const after = b[key];
    if (before === after) continue; // shared subtree (structural sharing): nothing to compare
    if (isPlainObject(before) && isPlainObject(after)) {
      path.push(key);
      const child = diff(before, after, path);
      path.pop();
      if (child !== undefined) (c ??= []).push([key, child]);
    } else if (!jsonEqual(before, after)) {
      (s ??= []).push([key, checkDeltaValue(after, 'newContext', path, key)]);
      (o ??= []).push([key, checkDeltaValue(before, 'oldContext', path, key)]);
    }
  }
  for (const key of Object.keys(b)) {
    if (!hasOwn(a, key)) (s ??= []).push([key, checkDeltaValue(b[key], 'newContext', path, key)]);
  }
  if (s === undefined && d === undefined && c === undefined) return undefined;
  const node: { s?: JsonObject; o?: JsonObject; d?: JsonObject; c?: Record<string, Node> } = {};
  if (s !== undefined) node.s = Object.fromEntries(s);
  if (o !== undefined) node.o = Object.fromEntries(o);
  if (d !== undefined) node.d = Object.fromEntries(d);
  if (c !== undefined) node.c = Object.fromEntries(c);
  return node;
}

/**
 * The delta that takes `oldContext` to `newContext`: `applyDelta(oldContext, delta)` deep-equals
 * `newContext`. Objects are compared key by key at every depth; arrays and scalars are compared as
 * whole values (deep JSON equality, key order ignored) and replaced whole. Equal contexts give the
 * empty delta (see {@link isEmptyDelta}).
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
  return (diff(oldContext, newContext, []) ?? {}) as Delta;
}

// ---------------------------------------------------------------------------------------------
// applyDelta

// Copies only the objects on changed paths; everything else is shared with `target`.
function applyNode(target: unknown, node: Node, argument: string, path: string[]): JsonObject {
  if (!isPlainObject(target)) {
    throw new ValidationError(
      argument,
      `${where(path)}: changes inside an object, but the context has ${describe(target)} there`,
    );
  }
  if (node.s === undefined && node.d === undefined && node.c === undefined) return target;
  const out: JsonObject = { ...target };
  if (node.s !== undefined) {
    for (const key of Object.keys(node.s)) setOwn(out, key, node.s[key]);
  }
  if (node.d !== undefined) {
    for (const key of Object.keys(node.d)) if (hasOwn(out, key)) delete out[key];
  }
  if (node.c !== undefined) {
    for (const key of Object.keys(node.c)) {
      path.push(key);
      if (!hasOwn(out, key)) {
        throw new ValidationError(argument, `${where(path)}: changes inside a key the context does not have`);
      }
      setOwn(out, key, applyNode(out[key], node.c[key] as Node, argument, path));
      path.pop();
    }
  }
  return out;
}

/**
 * The context after `delta`: what a client runs on the context it holds. Pure: `context` and
 * `delta` are never modified. The result shares every unchanged subtree with `context` and the new
 * values with `delta`, so treat all three as immutable.
 *
 * Lenient where the outcome is unambiguous (deleting a key that is already gone; setting a key
 * regardless of its current value) and strict where it is not: a malformed delta, or changes
 * inside a key that is missing or not an object in `context`, throw `ValidationError` naming
 * `delta`. Only the parts of `context` the delta touches are inspected.
 */
export function applyDelta(context: JsonObject, delta: Delta): JsonObject {
  if (!isPlainObject(context)) {
    throw new ValidationError('context', `must be a JSON object, got ${describe(context)}`);
  }
  const node = parseDelta(delta, 'delta');
  return applyNode(context, node, 'delta', []);
}

// ---------------------------------------------------------------------------------------------
// mergeDeltas

// The merge accumulator: mutable, and owned by the merge (never the caller's objects), so it can
// be updated in place. Maps keep any key safe.
interface MergeNode {
  readonly s: Map<string, Json>;
  readonly o: Map<string, Json>;
  readonly d: Map<string, Json>;
  readonly c: Map<string, MergeNode>;
}

function newMergeNode(): MergeNode {
  return { s: new Map(), o: new Map(), d: new Map(), c: new Map() };
}

function toMergeNode(node: Node): MergeNode {
  const m = newMergeNode();
  if (node.s !== undefined) for (const key of Object.keys(node.s)) m.s.set(key, node.s[key] as Json);
  if (node.o !== undefined) for (const key of Object.keys(node.o)) m.o.set(key, node.o[key] as Json);
  if (node.d !== undefined) for (const key of Object.keys(node.d)) m.d.set(key, node.d[key] as Json);
  if (node.c !== undefined) for (const key of Object.keys(node.c)) m.c.set(key, toMergeNode(node.c[key] as Node));
  return m;
}

function isEmptyMergeNode(m: MergeNode): boolean {
  if (m.s.size > 0 || m.d.size > 0) return false;
  for (const child of m.c.values()) if (!isEmptyMergeNode(child)) return false;
  return true;
}

function fromMergeNode(m: MergeNode): Delta {
  const out: Delta = {};
  if (m.s.size > 0) out.s = Object.fromEntries(m.s);
  if (m.o.size > 0) out.o = Object.fromEntries(m.o);
  if (m.d.size > 0) out.d = Object.fromEntries(m.d);
  const children: [string, Delta][] = [];
  for (const [key, child] of m.c) if (!isEmptyMergeNode(child)) children.push([key, fromMergeNode(child)]);
  if (children.length > 0) out.c = Object.fromEntries(children);
  return out;
}

// The value before `m` was applied, given the value after it: every change keeps what it replaced.
function unapply(m: MergeNode, after: Json, argument: string, path: string[]): Json {
  if (!isPlainObject(after)) {
    throw new ValidationError(
      argument,
      `${where(path)}: records ${describe(after)} as the old value, but an earlier delta changed inside an object there`,
    );
  }
  const out: JsonObject = { ...after };
  for (const key of m.s.keys()) {
    if (m.o.has(key)) setOwn(out, key, m.o.get(key));
    else if (hasOwn(out, key)) delete out[key];
  }
  for (const [key, old] of m.d) setOwn(out, key, old);
  for (const [key, child] of m.c) {
    path.push(key);
    if (!hasOwn(out, key)) {
      throw new ValidationError(argument, `${where(path)}: missing from the old value, but an earlier delta changed inside it`);
    }
    setOwn(out, key, unapply(child, out[key] as Json, argument, path));
    path.pop();
  }
  return out;
}

const ABSENT: unique symbol = Symbol('absent');

// Records in `acc` that `key` went from `old` to `value` over the merged deltas, in the same form
// calculateDelta would give (nothing if equal; changes inside if both are objects; else a set), so
// that a merge is the delta from the first context to the last, however the history went.
function setReplaced(acc: MergeNode, key: string, old: Json | typeof ABSENT, value: Json, path: string[]): void {
  acc.s.delete(key);
  acc.o.delete(key);
  acc.c.delete(key);
  if (old !== ABSENT && isPlainObject(old) && isPlainObject(value)) {
    const inside = diff(old, value, path);
    if (inside !== undefined) acc.c.set(key, toMergeNode(inside));
    return;
  }
  if (old !== ABSENT && jsonEqual(old, value)) return;
  acc.s.set(key, value);
  if (old !== ABSENT) acc.o.set(key, old);
}

// Folds `next` (already validated) into `acc`, so that `acc` has the effect of the old `acc`
// followed by `next`, keeping for each key the oldest old value and the newest new value.
function mergeInto(acc: MergeNode, next: Node, argument: string, path: string[]): void {
  if (next.s !== undefined) {
    for (const key of Object.keys(next.s)) {
      const value = next.s[key] as Json;
      const nextOld: Json | typeof ABSENT = next.o !== undefined && hasOwn(next.o, key) ? (next.o[key] as Json) : ABSENT;
      let old: Json | typeof ABSENT;
      if (acc.s.has(key)) {
        old = acc.o.has(key) ? (acc.o.get(key) as Json) : ABSENT;
      } else if (acc.d.has(key)) {
        old = acc.d.get(key) as Json;
      } else if (acc.c.has(key)) {
        path.push(key);
        if (nextOld === ABSENT) {
          throw new ValidationError(argument, `${where(path)}: set as a new key, but an earlier delta changed inside it`);
        }
        old = unapply(acc.c.get(key) as MergeNode, nextOld, argument, path);
        path.pop();
      } else {
        old = nextOld;
      }
      acc.d.delete(key);
      acc.c.delete(key);
      path.push(key);
      setReplaced(acc, key, old, value, path);
      path.pop();
    }
  }
  if (next.d !== undefined) {
    for (const key of Object.keys(next.d)) {
      if (acc.s.has(key)) {
        // Added then removed: nothing happened. Modified then removed: removed, with the first old.
        if (acc.o.has(key)) acc.d.set(key, acc.o.get(key) as Json);
        acc.s.delete(key);
        acc.o.delete(key);
      } else if (acc.d.has(key)) {
        // Removed twice: the first removal holds the real old value.
      } else if (acc.c.has(key)) {
        path.push(key);
        acc.d.set(key, unapply(acc.c.get(key) as MergeNode, next.d[key] as Json, argument, path));
        path.pop();
        acc.c.delete(key);
      } else {
        acc.d.set(key, next.d[key] as Json);
      }
    }
  }
  if (next.c !== undefined) {
    for (const key of Object.keys(next.c)) {
      const child = next.c[key] as Node;
      path.push(key);
      if (acc.s.has(key)) {
        const old = acc.o.has(key) ? (acc.o.get(key) as Json) : ABSENT;
        setReplaced(acc, key, old, applyNode(acc.s.get(key), child, argument, path), path);
      } else if (acc.d.has(key)) {
        throw new ValidationError(argument, `${where(path)}: changes inside a key that an earlier delta removed`);
      } else {
        const existing = acc.c.get(key);
        if (existing === undefined) {
          acc.c.set(key, toMergeNode(child));
        } else {
          mergeInto(existing, child, argument, path);
          if (isEmptyMergeNode(existing)) acc.c.delete(key);
        }
      }
      path.pop();
    }
  }
}

/**
 * One delta with the effect of all of `deltas`, applied in order: applying the result equals
 * applying each delta in turn. For every changed key the result keeps the old value from the
 * earliest delta and the new value from the latest; a key that ends as it started (added then
 * removed, changed and changed back) is left out. `mergeDeltas([])` is the empty delta.
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
    mergeInto(acc, parseDelta(deltas[i], argument), argument, []);
  }
  return fromMergeNode(acc);
}

// ---------------------------------------------------------------------------------------------
// isEmptyDelta, formatDelta

/** Whether `delta` changes nothing (the engine writes no version for it). Throws `ValidationError` if malformed. */
export function isEmptyDelta(delta: Delta): boolean {
  return isEmptyNode(parseDelta(delta, 'delta'));
}

function collectChanges(node: Node, path: string[], out: FormattedChange[]): void {
  const keys = new Set<string>();
  if (node.s !== undefined) for (const key of Object.keys(node.s)) keys.add(key);
  if (node.d !== undefined) for (const key of Object.keys(node.d)) keys.add(key);
  if (node.c !== undefined) for (const key of Object.keys(node.c)) keys.add(key);
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
      out.push({ path: keyPath, action: 'removed', oldValue: node.d[key] as Json });
    } else {
      collectChanges((node.c as Record<string, Node>)[key] as Node, keyPath, out);
    }
  }
}

/**
 * `delta` as a flat list of changes, one per changed key, each with its full key path from the
 * root of the context (at every depth), sorted by path. A key replaced whole (including an object
 * that became a scalar or the reverse) is one `modified` change; changes inside an object that
 * stayed an object are listed key by key. Throws `ValidationError` if `delta`, `contextId` or
 * `version` is invalid.
 */
export function formatDelta(delta: Delta, options: { contextId: string; version: number }): FormattedDelta {
  if (options === null || typeof options !== 'object') {
    throw new ValidationError('options', `must be an object with contextId and version, got ${describe(options)}`);
  }
  const { contextId, version } = options;
  validateContextId(contextId, 'contextId');
  validateVersion(version, 'version');
  const node = parseDelta(delta, 'delta');
  const changes: FormattedChange[] = [];
  collectChanges(node, [], changes);
  return { contextId, version, changes };
}
