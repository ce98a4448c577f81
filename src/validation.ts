import type { ListOptions } from './backend.js';
import { ValidationError } from './errors.js';
import type { Json, JsonObject } from './types.js';

/** The longest context id accepted, in UTF-16 code units. */
export const MAX_CONTEXT_ID_LENGTH = 512;
/** Default deepest nesting of objects and arrays accepted in a context, change or delta. */
export const DEFAULT_MAX_DEPTH = 100;
/** Default largest serialized (UTF-8 JSON) size of a context, change or delta: 16 MiB. */
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** Bounds on the JSON values a backend or the engine accepts. */
export interface JsonLimits {
  /** Deepest nesting of objects and arrays. Default: {@link DEFAULT_MAX_DEPTH}. */
  readonly maxDepth?: number;
  /** Largest serialized size in UTF-8 bytes. Default: {@link DEFAULT_MAX_BYTES}. */
  readonly maxBytes?: number;
}

/** `limits` with every default filled in, validated. */
export function resolveLimits(limits: JsonLimits | undefined): Required<JsonLimits> {
  const maxDepth = limits?.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxBytes = limits?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1) {
    throw new ValidationError('limits.maxDepth', `must be an integer ≥ 1, got ${describe(maxDepth)}`);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 2) {
    throw new ValidationError('limits.maxBytes', `must be an integer ≥ 2, got ${describe(maxBytes)}`);
  }
  return { maxDepth, maxBytes };
}

/**
 * The bounds a backend applies to a delta between contexts within `limits`. A delta nests two
 * levels for each context level it descends ("c", then the child node) plus its tag map, so a
 * change at the deepest level a context may have needs up to twice the context's depth; and a
 * context replaced whole keeps its old and new values, each up to the size limit, plus the delta's
 * own tags: three times the size limit. Checking deltas with the context limits would refuse
 * writes of contexts that are within them.
 */
export function deltaLimits(limits: Required<JsonLimits>): Required<JsonLimits> {
  return { maxDepth: 2 * limits.maxDepth + 1, maxBytes: 3 * limits.maxBytes };
}

/**
 * The one check of a config or options object: `value` must be a plain object (not `null`, not an
 * array) whose keys are all `known`, so a typo (`{ clok }`) is refused rather than ignored. The
 * messages: `<argument> must be <shape>, got …` and `<argument>.<key> is not a <owner> option
 * (known: …)`. Returns `value` to read the options from.
 *
 * @param owner What the options are of, as the message names it: `Chord`, `write`, `PrismaBackend`…
 * @param shape What `value` must be, for the message. Default: `an object`.
 * @throws ValidationError naming `argument`, or the first unknown key.
 */
export function validateOptions(value: unknown, argument: string, owner: string, known: Iterable<string>, shape = 'an object'): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(argument, `must be ${shape}, got ${describe(value)}`);
  }
  const allowed = known instanceof Set ? (known as ReadonlySet<string>) : new Set(known);
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) throw new ValidationError(`${argument}.${key}`, `is not a ${owner} option (known: ${[...allowed].join(', ')})`);
  }
  return value as Record<string, unknown>;
}

/** A short, safe description of any value for an error message. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return value.length > 60 ? `${JSON.stringify(value.slice(0, 60))}…` : JSON.stringify(value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n (bigint)`;
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default: {
      if (Array.isArray(value)) return 'an array';
      const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
      const name = proto?.constructor?.name;
      return typeof name === 'string' && name !== 'Object' ? `an instance of ${name}` : 'an object';
    }
  }
}

/** Path segment for error messages: `a.b`, `a[0]`, `a["x y"]`. */
function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function checkString(value: string, path: string, what: string): void {
  if (!value.isWellFormed()) {
    throw new ValidationError(path, `${what} contains a lone UTF-16 surrogate, which JSON storage cannot keep`);
  }
  if (value.includes('\u0000')) {
    throw new ValidationError(path, `${what} contains the NUL character (\\u0000), which PostgreSQL cannot store`);
  }
}

/** Throws unless `value` is a string that can serve as a context id. */
export function validateContextId(value: unknown, argument = 'contextId'): asserts value is string {
  if (typeof value !== 'string') {
    throw new ValidationError(argument, `must be a string, got ${describe(value)}`);
  }
  if (value.length === 0) throw new ValidationError(argument, 'must not be empty');
  if (value.length > MAX_CONTEXT_ID_LENGTH) {
    throw new ValidationError(argument, `must be at most ${MAX_CONTEXT_ID_LENGTH} characters, got ${value.length}`);
  }
  checkString(value, argument, 'the id');
}

/** Throws unless `value` is a `SyncKnown`: `{ version, epoch }`, a version and a non-empty epoch string. */
export function validateSyncKnown(value: unknown, argument = 'known'): asserts value is { readonly version: number; readonly epoch: string } {
  if (value === null || typeof value !== 'object') throw new ValidationError(argument, `must be an object { version, epoch }, got ${describe(value)}`);
  const { version, epoch } = value as { version?: unknown; epoch?: unknown };
  validateVersion(version, `${argument}.version`);
  if (typeof epoch !== 'string' || epoch === '') throw new ValidationError(`${argument}.epoch`, `must be a non-empty string, got ${describe(epoch)}`);
}

/** Throws unless `value` is an integer version in [0, Number.MAX_SAFE_INTEGER]. */
export function validateVersion(value: unknown, argument = 'version'): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(argument, `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${describe(value)}`);
  }
}

/** Throws unless `value` is an integer timestamp (any safe integer). */
export function validateTimestamp(value: unknown, argument: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ValidationError(argument, `must be an integer timestamp, got ${describe(value)}`);
  }
}

/** Throws unless `value` is an integer ≥ 0 (a count, limit, offset or threshold). */
export function validateCount(value: unknown, argument: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(argument, `must be an integer ≥ 0, got ${describe(value)}`);
  }
}

/**
 * Throws unless `value` is an integer ≥ 1: the size of a cleanup batch. A batch of 0 would delete
 * nothing yet never end a caller's "until a batch comes back short" loop.
 */
export function validateBatchSize(value: unknown, argument = 'batchSize'): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError(argument, `must be an integer ≥ 1, got ${describe(value)}`);
  }
}

/** Reads `clock()` and throws unless it gave an integer. */
export function readClock(clock: () => number): number {
  const now = clock();
  if (typeof now !== 'number' || !Number.isSafeInteger(now)) {
    throw new ValidationError('clock', `must return an integer timestamp, returned ${describe(now)}`);
  }
  return now;
}

const LIST_OPTION_KEYS = new Set(['contextId', 'version', 'insertedAt', 'limit', 'offset', 'order']);

/** Throws unless `options` is a valid {@link ListOptions}; unknown keys are refused, not ignored. */
export function validateListOptions(options: unknown, argument = 'options'): ListOptions {
  if (options === undefined) return {};
  const o = validateOptions(options, argument, 'list', LIST_OPTION_KEYS);
  if (o.contextId !== undefined) validateContextId(o.contextId, `${argument}.contextId`);
  if (o.version !== undefined) validateVersion(o.version, `${argument}.version`);
  if (o.insertedAt !== undefined) validateTimestamp(o.insertedAt, `${argument}.insertedAt`);
  if (o.limit !== undefined) validateCount(o.limit, `${argument}.limit`);
  if (o.offset !== undefined) validateCount(o.offset, `${argument}.offset`);
  if (o.order !== undefined && o.order !== 'asc' && o.order !== 'desc') {
    throw new ValidationError(`${argument}.order`, `must be 'asc' or 'desc', got ${describe(o.order)}`);
  }
  return o as ListOptions;
}

/** An object a context may hold as a map: a plain object, not an array or a class instance. */
export function isPlainObject(value: unknown): value is JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Whether a string can be stored as JSON text by every backend (no lone surrogate, no NUL). */
export function isStorableString(value: string): boolean {
  // A loop beats the native calls (~90 ns each on Node 20) on the short strings most values are.
  if (value.length > 32) return value.isWellFormed() && !value.includes('\u0000');
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0) return false;
    if (code >= 0xd800 && code <= 0xdfff) {
      // A high surrogate followed by a low one is a pair; anything else is lone.
      if (code >= 0xdc00) return false;
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

/**
 * The fast yes/no twin of {@link validateJson}: the same rules (`depthLeft` objects deep at
 * most), but no path strings and no cycle set, since a cycle also runs past any depth. Callers
 * rerun validateJson only when this says no, to name the path of the bad value.
 */
export function isJsonValue(value: unknown, depthLeft: number): boolean {
  switch (typeof value) {
    case 'string':
      return isStorableString(value);
    case 'number':
      return Number.isFinite(value);
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depthLeft <= 0) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !isJsonValue(value[i], depthLeft - 1)) return false;
    }
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  if (Object.getOwnPropertySymbols(value).length > 0) return false;
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (!isStorableString(key) || !isJsonValue(object[key], depthLeft - 1)) return false;
  }
  return true;
}

// Deeper than this, validateJson takes its slower walk, which finds a cycle as soon as it meets one.
const FAST_CHECK_MAX_DEPTH = 1_000;

/**
 * Throws `ValidationError` naming the path of the first value that is not JSON: undefined,
 * functions, symbols, bigint, NaN, ±Infinity, sparse arrays, cycles, class instances (Date, Map…),
 * strings PostgreSQL can't keep, or nesting deeper than `maxDepth`.
 */
export function validateJson(value: unknown, argument: string, maxDepth: number = DEFAULT_MAX_DEPTH): asserts value is Json {
  // The fast check first (no path strings, no cycle set); the walk below only to name what is wrong.
  // Capped so that a cycle under a very large maxDepth stops long before the call stack does.
  if (isJsonValue(value, Math.min(maxDepth, FAST_CHECK_MAX_DEPTH))) return;
  const ancestors = new Set<object>();
  const walk = (v: unknown, path: string, depth: number): void => {
    switch (typeof v) {
      case 'string':
        checkString(v, path, 'the string');
        return;
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) throw new ValidationError(path, `${v} is not a JSON number`);
        return;
      case 'object':
        break;
      default:
        throw new ValidationError(path, `${describe(v)} is not a JSON value`);
    }
    if (v === null) return;
    if (depth >= maxDepth) {
      throw new ValidationError(path, `nesting is deeper than the limit of ${maxDepth}`);
    }
    if (ancestors.has(v)) throw new ValidationError(path, 'is a cycle (it contains itself)');
    ancestors.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (!(i in v)) throw new ValidationError(childPath(path, i), 'is a hole in a sparse array');
        walk(v[i], childPath(path, i), depth + 1);
      }
    } else {
      if (!isPlainObject(v)) throw new ValidationError(path, `${describe(v)} is not a plain JSON object`);
      if (Object.getOwnPropertySymbols(v).length > 0) {
        throw new ValidationError(path, 'has symbol keys, which JSON cannot hold');
      }
      for (const key of Object.keys(v)) {
        checkString(key, childPath(path, key), 'the key');
        walk((v as Record<string, unknown>)[key], childPath(path, key), depth + 1);
      }
    }
    ancestors.delete(v);
  };
  walk(value, argument, 0);
}

/** Throws unless `value` is a JSON object within `maxDepth`. */
export function validateJsonObject(value: unknown, argument: string, maxDepth: number = DEFAULT_MAX_DEPTH): asserts value is JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(argument, `must be a JSON object, got ${describe(value)}`);
  }
  validateJson(value, argument, maxDepth);
}

/**
 * Validates a JSON object against `limits` and returns its JSON text; throws `ValidationError`
 * when it is not JSON, too deep, or larger than `limits.maxBytes` once serialized.
 */
export function serializeJsonObject(value: unknown, argument: string, limits: Required<JsonLimits>): string {
  validateJsonObject(value, argument, limits.maxDepth);
  const text = JSON.stringify(value);
  // A UTF-16 length within a third of the limit can't exceed it in UTF-8; skip the byte count then.
  if (text.length * 3 > limits.maxBytes) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limits.maxBytes) {
      throw new ValidationError(argument, `is ${bytes} bytes as JSON, over the limit of ${limits.maxBytes}`);
    }
  }
  return text;
}

/** Longest epoch a client may name, in the engine's sync and on the HTTP route alike; built-in backends make 22-character ones. */
export const MAX_EPOCH_LENGTH = 128;
