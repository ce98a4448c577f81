// The write messages of the sync route (`POST {basePath}/{id}`), shared by http/ (which reads them)
// and client/ (which sends them). Pure: no node: module, nothing of the engine at run time.
//
// A change set holds `unset` (a symbol) wherever a key is deleted, and a symbol does not survive
// JSON. So an update travels as two parts: `merge`, the changes with every `unset` removed, and
// `unset`, the key paths that were `unset`. `decodeChanges` puts the sentinel back where it was.

import { hasOwn, isPlainObject, setOwn } from '../delta/json.js';
import { unset as UNSET } from '../delta/changes.js';
import { ValidationError } from '../errors.js';
import type { ContextChange, ContextChanges } from '../engine/index.js';
import type { JsonObject } from '../types.js';
import { describe } from '../validation.js';

/** A key path from the root of a context to a key, one string per level: `["user", "token"]`. */
export type KeyPath = readonly string[];

/** What every write carries, whatever its kind. */
interface WriteRequestBase {
  /** Write only if the stored version is this one (as `WriteOptions.expectedVersion`). */
  readonly expectedVersion?: number;
  /** Write only if the context's current epoch is this one; otherwise 409 `conflict`. */
  readonly epoch?: string;
  /** Who writes: the client's own id, the same for all its writes to this context. */
  readonly clientId: string;
  /**
   * 1 for the client's first write to this context, then one more for each next write. The server
   * applies a (contextId, clientId, writeId) at most once: a writeId at or below the last one it
   * applied is answered as a duplicate and not applied.
   */
  readonly writeId: number;
}

/** The body of a write, as JSON on the wire. */
export type WriteRequest =
  | (WriteRequestBase & {
      readonly kind: 'update';
      /** The changes with every `unset` removed. */
      readonly merge: JsonObject;
      /** The key paths that the changes `unset` (may be empty). */
      readonly unset: readonly KeyPath[];
    })
  | (WriteRequestBase & {
      readonly kind: 'set';
      /** The whole new context. */
      readonly context: JsonObject;
    });

/** The 200 answer to a write. */
export interface WriteAnswer {
  /** The version the write produced, or the current version if it changed nothing. */
  readonly version: number;
  /** The context's epoch at that version. */
  readonly epoch: string;
  /** True when this (clientId, writeId) had already been applied: nothing was written now. */
  readonly duplicate: boolean;
}

/** The largest writeId (and expectedVersion) on the wire: a version is a 32-bit signed integer. */
export const MAX_WRITE_ID = 2 ** 31 - 1;

/** The longest clientId accepted. */
export const MAX_CLIENT_ID_LENGTH = 256;

// Past any depth the engine accepts (DEFAULT_MAX_DEPTH is 100, a configured limit is smaller than
// the call stack); deeper input is refused instead of overflowing the stack.
const MAX_WIRE_DEPTH = 1000;

/**
 * The wire form of `changes`: `merge` is `changes` without any `unset`, `unset` the key paths that
 * held it. An object whose every leaf is `unset` is left out of `merge` altogether (applied where
 * there is no object, it changes nothing, while an empty object in `merge` would create one), so
 * `decodeChanges(encodeChanges(c))` is `c` again, key order aside. Pure; `changes` is not modified.
 */
export function encodeChanges(changes: ContextChanges): { merge: JsonObject; unset: string[][] } {
  if (!isPlainObject(changes)) throw new ValidationError('changes', `must be a JSON object, got ${describe(changes)}`);
  const paths: string[][] = [];
  const merge = encodeObject(changes, [], paths, 0);
  return { merge, unset: paths };
}

function encodeObject(changes: { readonly [key: string]: ContextChange }, path: string[], paths: string[][], depth: number): JsonObject {
  if (depth > MAX_WIRE_DEPTH) throw new ValidationError('changes', `nests deeper than ${MAX_WIRE_DEPTH} levels`);
  const out: JsonObject = {};
  for (const key of Object.keys(changes)) {
    const value = changes[key];
    if (value === UNSET) {
      paths.push([...path, key]);
    } else if (isPlainObject(value)) {
      const inner = encodeObject(value, [...path, key], paths, depth + 1);
      // Only deletes below (non-empty, every leaf unset): the paths carry it all.
      if (Object.keys(inner).length > 0 || Object.keys(value).length === 0) setOwn(out, key, inner);
    } else {
      setOwn(out, key, value);
    }
  }
  return out;
}

/**
 * The changes that `encodeChanges` made `merge` and `unset` of: a copy of `merge` with `unset` put
 * at each path (creating the objects on the way). `merge` is not modified. `ValidationError` when
 * a path is not a non-empty array of strings, lies inside a value of `merge` that is not an object,
 * or names a key that `merge` (or another path) already sets.
 */
export function decodeChanges(merge: unknown, paths: unknown, argument = 'body'): ContextChanges {
  if (!isPlainObject(merge)) throw new ValidationError(`${argument}.merge`, `must be a JSON object, got ${describe(merge)}`);
  if (!Array.isArray(paths)) throw new ValidationError(`${argument}.unset`, `must be an array of key paths, got ${describe(paths)}`);
  const root: Record<string, unknown> = { ...merge };
  // Objects of `merge` are copied once, the first time a path goes through them.
  const copies = new Set<object>([root]);
  paths.forEach((path: unknown, i) => {
    const name = `${argument}.unset[${i}]`;
    if (!Array.isArray(path) || path.length === 0 || path.length > MAX_WIRE_DEPTH || !path.every((key) => typeof key === 'string')) {
      throw new ValidationError(name, `must be a non-empty array of strings, got ${describe(path)}`);
    }
    const keys = path as string[];
    let node = root;
    for (let depth = 0; depth < keys.length - 1; depth++) {
      const key = keys[depth] as string;
      let next = hasOwn(node, key) ? node[key] : undefined;
      if (next === undefined) {
        next = {};
        copies.add(next as object);
      } else if (!isPlainObject(next)) {
        throw new ValidationError(name, `lies inside ${JSON.stringify(keys.slice(0, depth + 1))}, which is not an object`);
      } else if (!copies.has(next)) {
        next = { ...next };
        copies.add(next as object);
      }
      setOwn(node, key, next);
      node = next as Record<string, unknown>;
    }
    const last = keys[keys.length - 1] as string;
    if (hasOwn(node, last)) throw new ValidationError(name, `names a key that is also set: ${JSON.stringify(keys)}`);
    setOwn(node, last, UNSET);
  });
  return root as ContextChanges;
}

function isWriteCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= MAX_WRITE_ID;
}

/**
 * The body of a write, checked: `ValidationError` names the first bad field (`body.kind`,
 * `body.writeId`, …). The contents of `merge` / `context` are not checked here (the engine
 * validates them as any write), nor the `unset` paths (`decodeChanges` does).
 */
export function parseWriteRequest(body: unknown): WriteRequest {
  if (!isPlainObject(body)) throw new ValidationError('body', `must be a JSON object, got ${describe(body)}`);
  const { kind, expectedVersion, epoch, clientId, writeId } = body as Record<string, unknown>;
  if (kind !== 'update' && kind !== 'set') throw new ValidationError('body.kind', `must be "update" or "set", got ${describe(kind)}`);
  if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > MAX_CLIENT_ID_LENGTH) {
    throw new ValidationError('body.clientId', `must be a string of 1 to ${MAX_CLIENT_ID_LENGTH} characters, got ${describe(clientId)}`);
  }
  if (!isWriteCount(writeId)) throw new ValidationError('body.writeId', `must be an integer from 1 to ${MAX_WRITE_ID}, got ${describe(writeId)}`);
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && (expectedVersion as number) >= 0 && (expectedVersion as number) <= MAX_WRITE_ID)) {
    throw new ValidationError('body.expectedVersion', `must be an integer from 0 to ${MAX_WRITE_ID}, got ${describe(expectedVersion)}`);
  }
  if (epoch !== undefined && typeof epoch !== 'string') throw new ValidationError('body.epoch', `must be a string, got ${describe(epoch)}`);
  const base = {
    clientId,
    writeId,
    ...(expectedVersion === undefined ? {} : { expectedVersion: expectedVersion as number }),
    ...(epoch === undefined ? {} : { epoch }),
  };
  const fields = Object.keys(body);
  if (kind === 'set') {
    const context = (body as Record<string, unknown>).context;
    if (!isPlainObject(context)) throw new ValidationError('body.context', `must be a JSON object, got ${describe(context)}`);
    refuseExtra(fields, ['kind', 'context', 'expectedVersion', 'epoch', 'clientId', 'writeId']);
    return { kind, context, ...base };
  }
  const { merge, unset } = body as Record<string, unknown>;
  refuseExtra(fields, ['kind', 'merge', 'unset', 'expectedVersion', 'epoch', 'clientId', 'writeId']);
  // The paths themselves are checked by decodeChanges, which the reader calls next.
  if (!isPlainObject(merge)) throw new ValidationError('body.merge', `must be a JSON object, got ${describe(merge)}`);
  if (!Array.isArray(unset)) throw new ValidationError('body.unset', `must be an array of key paths, got ${describe(unset)}`);
  return { kind, merge: merge as JsonObject, unset: unset as string[][], ...base };
}

function refuseExtra(fields: string[], allowed: string[]): void {
  const extra = fields.find((field) => !allowed.includes(field));
  if (extra !== undefined) throw new ValidationError(`body.${extra}`, 'is not a field of a write');
}
