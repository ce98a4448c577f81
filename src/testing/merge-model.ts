import { unset } from '../delta/index.js';
import type { Json, JsonObject } from '../types.js';

/**
 * `updateContext`'s deep merge as the README states it ("objects recurse, any other value
 * replaces, `unset` deletes a key at any depth"), written as edits on paths, to check the
 * recursive merge of src/delta/changes.ts against a model that shares neither its code nor its
 * special cases. The changes become leaf edits, in key order:
 *
 * - a value that is not an object (scalar, array, `null`) at path p: set p to it;
 * - an empty object at p: make p an object (keep it if it is one);
 * - `unset` at p: delete p.
 *
 * Setting and making an object create the objects on the way to p, replacing whatever non-object
 * is there; deleting only follows objects that exist, so it never creates anything.
 */
export function modelMerge(context: Json | undefined, changes: Record<string, unknown>): JsonObject {
  // JSON.parse defines every key as an own property, `__proto__` included.
  const root = isObject(context) ? (JSON.parse(JSON.stringify(context)) as Record<string, unknown>) : {};
  for (const edit of leafEdits(changes, [])) applyEdit(root, edit);
  return root as JsonObject;
}

type Edit =
  | { readonly path: readonly string[]; readonly kind: 'set'; readonly value: unknown }
  | { readonly path: readonly string[]; readonly kind: 'object' }
  | { readonly path: readonly string[]; readonly kind: 'delete' };

function leafEdits(changes: Record<string, unknown>, prefix: readonly string[]): Edit[] {
  const edits: Edit[] = [];
  for (const key of Object.keys(changes)) {
    const change = changes[key];
    const path = [...prefix, key];
    if (change === unset) edits.push({ path, kind: 'delete' });
    else if (isObject(change)) {
      if (Object.keys(change).length === 0) edits.push({ path, kind: 'object' });
      else edits.push(...leafEdits(change, path));
    } else edits.push({ path, kind: 'set', value: change });
  }
  return edits;
}

function applyEdit(root: Record<string, unknown>, edit: Edit): void {
  let here = root;
  for (const key of edit.path.slice(0, -1)) {
    const found = own(here, key);
    let next: Record<string, unknown>;
    if (isObject(found)) next = found;
    else {
      if (edit.kind === 'delete') return;
      next = {};
      define(here, key, next);
    }
    here = next;
  }
  const last = edit.path[edit.path.length - 1] as string;
  if (edit.kind === 'delete') {
    if (Object.hasOwn(here, last)) delete here[last];
  } else if (edit.kind === 'set') {
    define(here, last, JSON.parse(JSON.stringify(edit.value)));
  } else if (!isObject(own(here, last))) {
    define(here, last, {});
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function define(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}
