// The shapes of a delta once validated (see the format description in delta.ts). The maps are the
// caller's objects: read them only through own keys.

import type { Json, JsonObject } from '../types.js';

/** A change to one object: what `calculateDelta` gives at the top and for each object changed inside. */
export interface ObjectNode {
  readonly s?: JsonObject;
  readonly o?: JsonObject;
  /** Full: `{ key: oldValue }`. Wire: the removed keys. */
  readonly d?: JsonObject | readonly string[];
  readonly c?: { readonly [key: string]: ObjectNode };
  readonly a?: { readonly [key: string]: ArrayNode };
  /** Wire only: `{ "/json/pointer": node }`, a chain of single changes inside objects and arrays. */
  readonly t?: { readonly [pointer: string]: ObjectNode };
}

/**
 * `[index, removed, inserted]`: from the old array at `index`, the items `removed` (full: their
 * old values; wire: how many) are replaced by `inserted`.
 */
export type Splice = readonly [number, readonly Json[] | number, readonly Json[]];

/** A change to one array. Indexes (keys of "c" and "a", and of splices) are in the old array. */
export interface ArrayNode {
  readonly c?: { readonly [index: string]: ObjectNode };
  readonly a?: { readonly [index: string]: ArrayNode };
  readonly p?: readonly Splice[];
}

/** How many items a splice removes, full or wire. */
export function removedCount(splice: Splice): number {
  const removed = splice[1];
  return typeof removed === 'number' ? removed : removed.length;
}

/**
 * Decodes one JSON Pointer (RFC 6901): its segments after a leading `""` (the split at the first
 * "/", kept to save a copy); `undefined` if it is not a pointer with at least one segment.
 */
export function decodePointer(pointer: string): readonly string[] | undefined {
  // A delta's pointers are decoded twice (checked, then applied) and the same few recur across
  // syncs: remembered, up to a bound, as frozen arrays.
  const known = decoded.get(pointer);
  if (known !== undefined) return known;
  const segments = decodeUncached(pointer);
  if (segments === undefined) return undefined;
  if (decoded.size >= DECODED_MAX) decoded.clear();
  decoded.set(pointer, Object.freeze(segments));
  return segments;
}

const DECODED_MAX = 1_024;
const decoded = new Map<string, readonly string[]>();

function decodeUncached(pointer: string): string[] | undefined {
  if (pointer.length < 2 || pointer.charCodeAt(0) !== 47) return undefined;
  const segments = pointer.split('/');
  if (pointer.indexOf('~') < 0) return segments;
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (segment.indexOf('~') < 0) continue;
    if (/~[^01]|~$/.test(segment)) return undefined;
    segments[i] = segment.replaceAll('~1', '/').replaceAll('~0', '~');
  }
  return segments;
}

export function encodePointer(segments: readonly string[]): string {
  let out = '';
  for (const segment of segments) {
    out += '/';
    out += segment.includes('~') || segment.includes('/') ? segment.replaceAll('~', '~0').replaceAll('/', '~1') : segment;
  }
  return out;
}

/** A canonical array index ("0", "17", never "01" or "-1"), as a number; -1 when it is not one. */
export function parseIndex(key: string): number {
  if (key.length === 0 || key.length > 10) return -1;
  if (key.length > 1 && key.charCodeAt(0) === 48) return -1;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code < 48 || code > 57) return -1;
  }
  const index = Number(key);
  return index < 4294967295 ? index : -1;
}

/**
 * An empty object for the "c" and "a" maps of an array node, whose keys are item indexes. V8 keeps
 * integer keys as elements, and an object given key "900" first gets 900 empty element slots that
 * every Object.keys walks (µs per call); one far index set and deleted makes the elements a hash
 * table from the start instead.
 */
export function indexMap<T>(): Record<string, T> {
  const map: Record<string, T> = {};
  map[FAR_INDEX] = undefined as T;
  delete map[FAR_INDEX];
  return map;
}

const FAR_INDEX = '1000000000';
