// mergeDeltas' accumulator. Objects: maps per tag, updated in place. Arrays: an edit script over
// the old array (keep a run, change one item inside, remove one item, insert one item), composed
// with each next delta's script over the array in between.

import { ValidationError } from '../errors.js';
import type { Delta, Json, JsonObject } from '../types.js';
import { describe } from '../validation.js';
import { applyArray, applyObject } from './apply.js';
import { type Segment, diffArray, diffObject, where } from './diff.js';
import { hasOwn, isPlainObject, jsonEqual, put } from './json.js';
import { type ArrayNode, type ObjectNode, indexMap, parseIndex } from './node.js';

export interface MergeNode {
  readonly s: Map<string, Json>;
  readonly o: Map<string, Json>;
  readonly d: Map<string, Json>;
  /** Changes inside objects; a {@link Raw} child is a node of an earlier merge, expanded only when touched. */
  readonly c: Map<string, MergeNode | Raw>;
  readonly a: Map<string, MergeArray>;
}

/**
 * A child node of a merge made earlier (canonical: never empty), kept as it is until a later delta
 * changes inside it: extending a merge then costs what the new delta touches, not the whole merge,
 * and the untouched parts are shared with the earlier one (neither is ever modified).
 */
export interface Raw {
  readonly raw: ObjectNode;
}

function isRaw(child: MergeNode | Raw): child is Raw {
  return (child as Partial<Raw>).raw !== undefined;
}

/** The child at `key`, expanded (and put back) if it was {@link Raw}. */
function childOf(map: Map<string, MergeNode | Raw>, key: string): MergeNode | undefined {
  const child = map.get(key);
  if (child === undefined || !isRaw(child)) return child;
  const expanded = toShallowMergeNode(child.raw);
  map.set(key, expanded);
  return expanded;
}

/**
 * `node`, a canonical stored-form merge (fromMergeNode's output), as an accumulator whose object
 * children stay {@link Raw} until touched.
 */
export function toShallowMergeNode(node: ObjectNode): MergeNode {
  return fillMergeNode(node, asRaw);
}

function asRaw(child: ObjectNode): Raw {
  return { raw: child };
}

// A node's maps filled from `node`, its object children made by `child` (expanded, or kept Raw).
function fillMergeNode(node: ObjectNode, child: (node: ObjectNode) => MergeNode | Raw): MergeNode {
  const m = newMergeNode();
  if (node.s !== undefined) for (const key of Object.keys(node.s)) m.s.set(key, node.s[key] as Json);
  if (node.o !== undefined) for (const key of Object.keys(node.o)) m.o.set(key, node.o[key] as Json);
  if (node.d !== undefined) for (const key of Object.keys(node.d)) m.d.set(key, (node.d as JsonObject)[key] as Json);
  if (node.c !== undefined) for (const key of Object.keys(node.c)) m.c.set(key, child(node.c[key] as ObjectNode));
  if (node.a !== undefined) for (const key of Object.keys(node.a)) m.a.set(key, toMergeArray(node.a[key] as ArrayNode));
  return m;
}

type Op =
  | { readonly t: 'keep'; readonly n: number }
  | { readonly t: 'object'; readonly node: MergeNode }
  | { readonly t: 'array'; readonly node: MergeArray }
  | { readonly t: 'remove'; readonly old: Json }
  | { readonly t: 'insert'; readonly value: Json };

/** An array change as ops in old-array order; past the last op every item is kept. */
export interface MergeArray {
  readonly ops: Op[];
}

const DIFF = { check: false };

export function newMergeNode(): MergeNode {
  return { s: new Map(), o: new Map(), d: new Map(), c: new Map(), a: new Map() };
}

export function toMergeNode(node: ObjectNode): MergeNode {
  return fillMergeNode(node, toMergeNode);
}

// Ops in old-index order; a splice at the index of a changed item inserts before it.
function toOps(node: ArrayNode, child: (kind: 'object' | 'array', node: ObjectNode | ArrayNode) => Op): Op[] {
  const events: [number, Op][] = [];
  if (node.c !== undefined) for (const key of Object.keys(node.c)) events.push([parseIndex(key), child('object', node.c[key] as ObjectNode)]);
  if (node.a !== undefined) for (const key of Object.keys(node.a)) events.push([parseIndex(key), child('array', node.a[key] as ArrayNode)]);
  events.sort((x, y) => x[0] - y[0]);
  const ops: Op[] = [];
  let pos = 0;
  let e = 0;
  const takeChildrenBefore = (limit: number): void => {
    while (e < events.length && (events[e] as [number, Op])[0] < limit) {
      const [index, op] = events[e++] as [number, Op];
      if (index > pos) ops.push({ t: 'keep', n: index - pos });
      ops.push(op);
      pos = index + 1;
    }
  };
  for (const [index, removed, inserted] of node.p ?? []) {
    takeChildrenBefore(index);
    if (index > pos) ops.push({ t: 'keep', n: index - pos });
    for (const old of removed as readonly Json[]) ops.push({ t: 'remove', old });
    for (const value of inserted) ops.push({ t: 'insert', value });
    pos = index + (removed as readonly Json[]).length;
  }
  takeChildrenBefore(Number.POSITIVE_INFINITY);
  return ops;
}

export function toMergeArray(node: ArrayNode): MergeArray {
  return {
    ops: toOps(node, (kind, child) =>
      kind === 'object' ? { t: 'object', node: toMergeNode(child as ObjectNode) } : { t: 'array', node: toMergeArray(child as ArrayNode) },
    ),
  };
}

export function isEmptyMergeNode(m: MergeNode): boolean {
  if (m.s.size > 0 || m.d.size > 0) return false;
  for (const child of m.c.values()) if (isRaw(child) || !isEmptyMergeNode(child)) return false;
  for (const child of m.a.values()) if (!isEmptyMergeArray(child)) return false;
  return true;
}

// Empty once canonical: a remove and an insert of equal items change nothing.
function isEmptyMergeArray(m: MergeArray): boolean {
  return fromMergeArray(m) === undefined;
}

export function fromMergeNode(m: MergeNode): Delta {
  const out: Delta = {};
  if (m.s.size > 0) out.s = mapToObject(m.s);
  if (m.o.size > 0) out.o = mapToObject(m.o);
  if (m.d.size > 0) out.d = mapToObject(m.d);
  const children: JsonObject = {};
  let anyChild = false;
  for (const [key, child] of m.c) {
    if (isRaw(child)) {
      put(children, key, child.raw);
      anyChild = true;
      continue;
    }
    if (isEmptyMergeNode(child)) continue;
    put(children, key, fromMergeNode(child));
    anyChild = true;
  }
  if (anyChild) out.c = children;
  const arrays: JsonObject = {};
  let anyArray = false;
  for (const [key, child] of m.a) {
    const node = fromMergeArray(child);
    if (node === undefined) continue;
    put(arrays, key, node);
    anyArray = true;
  }
  if (anyArray) out.a = arrays;
  return out;
}

function mapToObject(map: Map<string, Json>): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of map) put(out, key, value);
  return out;
}

function fromMergeArray(m: MergeArray): JsonObject | undefined {
  const c = indexMap<Json>();
  const a = indexMap<Json>();
  const p: Json[] = [];
  let anyC = false;
  let anyA = false;
  let pos = 0;
  let region: [number, Json[], Json[]] | undefined;
  for (const op of canonicalOps(m.ops)) {
    if (op.t === 'remove' || op.t === 'insert') {
      if (region === undefined) {
        region = [pos, [], []];
        p.push(region as unknown as Json);
      }
      if (op.t === 'remove') {
        region[1].push(op.old);
        pos++;
      } else {
        region[2].push(op.value);
      }
      continue;
    }
    region = undefined;
    if (op.t === 'keep') {
      pos += op.n;
    } else if (op.t === 'object') {
      if (!isEmptyMergeNode(op.node)) {
        put(c, String(pos), fromMergeNode(op.node));
        anyC = true;
      }
      pos++;
    } else {
      const node = fromMergeArray(op.node);
      if (node !== undefined) {
        put(a, String(pos), node);
        anyA = true;
      }
      pos++;
    }
  }
  if (!anyC && !anyA && p.length === 0) return undefined;
  const out: JsonObject = {};
  if (anyC) out.c = c;
  if (anyA) out.a = a;
  if (p.length > 0) out.p = p;
  return out;
}

// Each run of removes and inserts as calculateDelta would give it for the items it holds: equal
// ends kept, and items paired by index (changed inside, or replaced) when the counts match.
function canonicalOps(ops: readonly Op[]): Op[] {
  const out: Op[] = [];
  for (let i = 0; i < ops.length; ) {
    const op = ops[i] as Op;
    if (op.t !== 'remove' && op.t !== 'insert') {
      out.push(op);
      i++;
      continue;
    }
    const removed: Json[] = [];
    const inserted: Json[] = [];
    for (; i < ops.length; i++) {
      const next = ops[i] as Op;
      if (next.t === 'remove') removed.push(next.old);
      else if (next.t === 'insert') inserted.push(next.value);
      else break;
    }
    let head = 0;
    while (head < removed.length && head < inserted.length && jsonEqual(removed[head], inserted[head])) head++;
    let tail = 0;
    while (
      tail < removed.length - head &&
      tail < inserted.length - head &&
      jsonEqual(removed[removed.length - 1 - tail], inserted[inserted.length - 1 - tail])
    ) {
      tail++;
    }
    if (head > 0) out.push({ t: 'keep', n: head });
    const rest = removed.length - head - tail;
    if (rest === inserted.length - head - tail) {
      for (let j = head; j < head + rest; j++) out.push(...pairOps(removed[j] as Json, inserted[j] as Json));
    } else {
      for (let j = head; j < removed.length - tail; j++) out.push({ t: 'remove', old: removed[j] as Json });
      for (let j = head; j < inserted.length - tail; j++) out.push({ t: 'insert', value: inserted[j] as Json });
    }
    if (tail > 0) out.push({ t: 'keep', n: tail });
  }
  return out;
}

function pairOps(before: Json, after: Json): Op[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const node = diffObject(before, after, [], DIFF);
    return [node === undefined ? { t: 'keep', n: 1 } : { t: 'object', node: toMergeNode(node) }];
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const node = diffArray(before, after, [], DIFF);
    return [node === undefined ? { t: 'keep', n: 1 } : { t: 'array', node: toMergeArray(node) }];
  }
  if (jsonEqual(before, after)) return [{ t: 'keep', n: 1 }];
  return [
    { t: 'remove', old: before },
    { t: 'insert', value: after },
  ];
}

// The value before `m` was applied, given the value after it: every change keeps what it replaced.
function unapply(m: MergeNode, after: Json, argument: string, path: Segment[]): Json {
  if (!isPlainObject(after)) {
    throw new ValidationError(argument, `${where(path)}: records ${describe(after)} as the old value, but an earlier delta changed inside an object there`);
  }
  const out: JsonObject = { ...after };
  for (const key of m.s.keys()) {
    if (m.o.has(key)) put(out, key, m.o.get(key));
    else if (hasOwn(out, key)) delete out[key];
  }
  for (const [key, old] of m.d) put(out, key, old);
  for (const key of m.c.keys()) {
    path.push(key);
    if (!hasOwn(out, key)) throw new ValidationError(argument, `${where(path)}: missing from the old value, but an earlier delta changed inside it`);
    put(out, key, unapply(childOf(m.c, key) as MergeNode, out[key] as Json, argument, path));
    path.pop();
  }
  for (const [key, child] of m.a) {
    path.push(key);
    if (!hasOwn(out, key)) throw new ValidationError(argument, `${where(path)}: missing from the old value, but an earlier delta changed inside it`);
    put(out, key, unapplyArray(child, out[key] as Json, argument, path));
    path.pop();
  }
  return out;
}

function unapplyArray(m: MergeArray, after: Json, argument: string, path: Segment[]): Json {
  if (!Array.isArray(after)) {
    throw new ValidationError(argument, `${where(path)}: records ${describe(after)} as the old value, but an earlier delta changed inside an array there`);
  }
  const out: Json[] = [];
  let j = 0;
  const short = (): never => {
    throw new ValidationError(argument, `${where(path)}: the old value has ${after.length} items, fewer than an earlier delta changed`);
  };
  for (const op of m.ops) {
    switch (op.t) {
      case 'keep':
        if (j + op.n > after.length) short();
        for (let i = 0; i < op.n; i++) out.push(after[j++] as Json);
        break;
      case 'object':
      case 'array':
        if (j >= after.length) short();
        path.push(j);
        out.push(op.t === 'object' ? unapply(op.node, after[j] as Json, argument, path) : unapplyArray(op.node, after[j] as Json, argument, path));
        path.pop();
        j++;
        break;
      case 'remove':
        out.push(op.old);
        break;
      case 'insert':
        if (j >= after.length) short();
        j++;
        break;
    }
  }
  for (; j < after.length; j++) out.push(after[j] as Json);
  return out;
}

const ABSENT: unique symbol = Symbol('absent');

// Records in `acc` that `key` went from `old` to `value` over the merged deltas, in the same form
// calculateDelta would give (nothing if equal; changes inside if both are objects or both arrays;
// else a set).
function setReplaced(acc: MergeNode, key: string, old: Json | typeof ABSENT, value: Json): void {
  acc.s.delete(key);
  acc.o.delete(key);
  acc.c.delete(key);
  acc.a.delete(key);
  if (old !== ABSENT && isPlainObject(old) && isPlainObject(value)) {
    const inside = diffObject(old, value, [], DIFF);
    if (inside !== undefined) acc.c.set(key, toMergeNode(inside));
    return;
  }
  if (old !== ABSENT && Array.isArray(old) && Array.isArray(value)) {
    const inside = diffArray(old, value, [], DIFF);
    if (inside !== undefined) acc.a.set(key, toMergeArray(inside));
    return;
  }
  if (old !== ABSENT && jsonEqual(old, value)) return;
  acc.s.set(key, value);
  if (old !== ABSENT) acc.o.set(key, old);
}

/**
 * Folds `next` (validated, full) into `acc`, so that `acc` has the effect of the old `acc`
 * followed by `next`, keeping for each key the oldest old value and the newest new value.
 */
export function mergeInto(acc: MergeNode, next: ObjectNode, argument: string, path: Segment[]): void {
  if (next.s !== undefined) {
    for (const key of Object.keys(next.s)) {
      const value = next.s[key] as Json;
      const nextOld: Json | typeof ABSENT = next.o !== undefined && hasOwn(next.o, key) ? (next.o[key] as Json) : ABSENT;
      let old: Json | typeof ABSENT;
      path.push(key);
      if (acc.s.has(key)) {
        old = acc.o.has(key) ? (acc.o.get(key) as Json) : ABSENT;
      } else if (acc.d.has(key)) {
        old = acc.d.get(key) as Json;
      } else if (acc.c.has(key) || acc.a.has(key)) {
        if (nextOld === ABSENT) throw new ValidationError(argument, `${where(path)}: set as a new key, but an earlier delta changed inside it`);
        const inObject = childOf(acc.c, key);
        old = inObject !== undefined ? unapply(inObject, nextOld, argument, path) : unapplyArray(acc.a.get(key) as MergeArray, nextOld, argument, path);
      } else {
        old = nextOld;
      }
      acc.d.delete(key);
      setReplaced(acc, key, old, value);
      path.pop();
    }
  }
  if (next.d !== undefined) {
    const d = next.d as JsonObject;
    for (const key of Object.keys(d)) {
      path.push(key);
      if (acc.s.has(key)) {
        // Added then removed: nothing happened. Modified then removed: removed, with the first old.
        if (acc.o.has(key)) acc.d.set(key, acc.o.get(key) as Json);
        acc.s.delete(key);
        acc.o.delete(key);
      } else if (acc.d.has(key)) {
        // Removed twice: the first removal holds the real old value.
      } else if (acc.c.has(key)) {
        acc.d.set(key, unapply(childOf(acc.c, key) as MergeNode, d[key] as Json, argument, path));
        acc.c.delete(key);
      } else if (acc.a.has(key)) {
        acc.d.set(key, unapplyArray(acc.a.get(key) as MergeArray, d[key] as Json, argument, path));
        acc.a.delete(key);
      } else {
        acc.d.set(key, d[key] as Json);
      }
      path.pop();
    }
  }
  if (next.c !== undefined) {
    for (const key of Object.keys(next.c)) {
      const child = next.c[key] as ObjectNode;
      path.push(key);
      if (acc.s.has(key)) {
        const old = acc.o.has(key) ? (acc.o.get(key) as Json) : ABSENT;
        setReplaced(acc, key, old, applyObject(acc.s.get(key), child, argument, path));
      } else if (acc.d.has(key)) {
        throw new ValidationError(argument, `${where(path)}: changes inside a key that an earlier delta removed`);
      } else if (acc.a.has(key)) {
        throw new ValidationError(argument, `${where(path)}: changes inside an object, but an earlier delta changed inside an array there`);
      } else {
        const existing = childOf(acc.c, key);
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
  if (next.a !== undefined) {
    for (const key of Object.keys(next.a)) {
      const child = next.a[key] as ArrayNode;
      path.push(key);
      if (acc.s.has(key)) {
        const old = acc.o.has(key) ? (acc.o.get(key) as Json) : ABSENT;
        setReplaced(acc, key, old, applyArray(acc.s.get(key), child, argument, path));
      } else if (acc.d.has(key)) {
        throw new ValidationError(argument, `${where(path)}: changes inside a key that an earlier delta removed`);
      } else if (acc.c.has(key)) {
        throw new ValidationError(argument, `${where(path)}: changes inside an array, but an earlier delta changed inside an object there`);
      } else {
        const existing = acc.a.get(key);
        if (existing === undefined) {
          acc.a.set(key, toMergeArray(child));
        } else {
          const composed = compose(existing, child, argument, path);
          if (isEmptyMergeArray(composed)) acc.a.delete(key);
          else acc.a.set(key, composed);
        }
      }
      path.pop();
    }
  }
}

type NextOp =
  | { readonly t: 'keep'; readonly n: number }
  | { readonly t: 'object'; readonly node: ObjectNode }
  | { readonly t: 'array'; readonly node: ArrayNode }
  | { readonly t: 'remove'; readonly old: Json }
  | { readonly t: 'insert'; readonly value: Json };

// `acc` (old → between) followed by `next` (between → new) as one script (old → new).
function compose(acc: MergeArray, next: ArrayNode, argument: string, path: Segment[]): MergeArray {
  const nextOps = toOps(next, (kind, node) => (kind === 'object' ? { t: 'object', node } : { t: 'array', node }) as unknown as Op) as unknown as NextOp[];
  const out: Op[] = [];
  const push = (op: Op): void => {
    const last = out[out.length - 1];
    if (op.t === 'keep' && last !== undefined && last.t === 'keep') out[out.length - 1] = { t: 'keep', n: last.n + op.n };
    else out.push(op);
  };
  const ops = acc.ops;
  let i = 0; // next op of acc
  let keepLeft = -1; // items left in acc's current keep run (-1: not in one)
  let between = 0; // index in the array between the two deltas, for error paths
  // Takes one item of the array between the deltas from `acc`: the op that produced it. Removes
  // on the way (they produce nothing) pass through to the result.
  const take = (): Op => {
    for (;;) {
      if (keepLeft > 0) {
        keepLeft--;
        return { t: 'keep', n: 1 };
      }
      const op = ops[i];
      if (op === undefined) return { t: 'keep', n: 1 };
      i++;
      if (op.t === 'remove') push(op);
      else if (op.t === 'keep') keepLeft = op.n;
      else return op;
    }
  };
  for (const op of nextOps) {
    if (op.t === 'insert') {
      push(op);
      continue;
    }
    if (op.t === 'keep') {
      for (let n = op.n; n > 0; ) {
        if (keepLeft > 0) {
          const run = Math.min(keepLeft, n);
          keepLeft -= run;
          n -= run;
          between += run;
          push({ t: 'keep', n: run });
        } else {
          push(take());
          between++;
          n--;
        }
      }
      continue;
    }
    const produced = take();
    path.push(between);
    if (op.t === 'remove') {
      if (produced.t === 'keep') push({ t: 'remove', old: op.old });
      else if (produced.t === 'object') push({ t: 'remove', old: unapply(produced.node, op.old, argument, path) });
      else if (produced.t === 'array') push({ t: 'remove', old: unapplyArray(produced.node, op.old, argument, path) });
      // An item inserted and then removed leaves nothing.
    } else if (op.t === 'object') {
      if (produced.t === 'keep') push({ t: 'object', node: toMergeNode(op.node) });
      else if (produced.t === 'object') {
        mergeInto(produced.node, op.node, argument, path);
        push(produced);
      } else if (produced.t === 'insert') push({ t: 'insert', value: applyObject(produced.value, op.node, argument, path) });
      else throw new ValidationError(argument, `${where(path)}: changes inside an object, but an earlier delta changed inside an array there`);
    } else {
      if (produced.t === 'keep') push({ t: 'array', node: toMergeArray(op.node) });
      else if (produced.t === 'array') push({ t: 'array', node: compose(produced.node, op.node, argument, path) });
      else if (produced.t === 'insert') push({ t: 'insert', value: applyArray(produced.value, op.node, argument, path) });
      else throw new ValidationError(argument, `${where(path)}: changes inside an array, but an earlier delta changed inside an object there`);
    }
    path.pop();
    between++;
  }
  if (keepLeft > 0) push({ t: 'keep', n: keepLeft });
  for (; i < ops.length; i++) push(ops[i] as Op);
  return { ops: out };
}
