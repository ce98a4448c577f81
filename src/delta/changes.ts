import { ValidationError } from '../errors.js';
import type { JsonObject } from '../types.js';
import { DEFAULT_MAX_DEPTH, describe, validateJson } from '../validation.js';
import { copyObject, hasOwn, isPlainObject, setOwn } from './json.js';

/**
 * Put as a value in the changes given to `updateContext` (or {@link applyChanges}) to delete that
 * key, at any depth: `updateContext(id, { user: { token: unset } })`. Deleting a key that is not
 * there is a no-op. (`null`, by contrast, is a value and is stored.) A registered symbol, so two
 * copies of the library loaded side by side agree on it.
 */
export const unset: unique symbol = Symbol.for('chord-sync.unset');

/** The type of {@link unset}. */
export type Unset = typeof unset;

// A copy of `changes` with every `unset` replaced by null, so validateJson can check the rest and
// name the exact path of a bad value. Only plain objects are copied (unset is allowed nowhere
// else). Where validateJson must see the original to report it (a cycle, symbol keys, nesting past
// the limit), the original is left in place.
function withoutUnset(value: unknown, ancestors: Set<object>, depthLeft: number): unknown {
  if (value === unset) return null;
  if (!isPlainObject(value) || ancestors.has(value) || depthLeft <= 0) return value;
  if (Object.getOwnPropertySymbols(value).length > 0) return value;
  ancestors.add(value);
  const out = Object.fromEntries(
    Object.keys(value).map((key) => [key, withoutUnset(value[key], ancestors, depthLeft - 1)]),
  );
  ancestors.delete(value);
  return out;
}

// True when `change` only deletes (every leaf is `unset`): applied where there is no object, it
// has nothing to delete, so it must not create an empty object either.
function onlyDeletes(change: Record<string, unknown>): boolean {
  const keys = Object.keys(change);
  return (
    keys.length > 0 &&
    keys.every((key) => {
      const value = change[key];
      return value === unset || (isPlainObject(value) && onlyDeletes(value));
    })
  );
}

// Plain objects in `changes` merge into plain objects of `target`; anything else replaces.
function merge(target: JsonObject | undefined, changes: Record<string, unknown>): JsonObject {
  const out: JsonObject = target === undefined ? {} : copyObject(target);
  for (const key of Object.keys(changes)) {
    const change = changes[key];
    if (change === unset) {
      if (hasOwn(out, key)) delete out[key];
    } else if (isPlainObject(change)) {
      const current = hasOwn(out, key) ? out[key] : undefined;
      if (isPlainObject(current)) setOwn(out, key, merge(current, change));
      else if (!onlyDeletes(change)) setOwn(out, key, merge(undefined, change));
    } else {
      setOwn(out, key, change);
    }
  }
  return out;
}

/**
 * `context` with `changes` deep-merged into it: what `updateContext` stores. Plain objects in
 * `changes` merge key by key into the objects at the same place (or into an empty object where
 * there is none, or a non-object); any other value (arrays, scalars, `null`) replaces the value
 * there; {@link unset} as a value deletes the key.
 *
 * Pure: neither argument is modified. Objects on changed paths are new; everything else is shared
 * with `context` or `changes`, so treat the result as immutable. `changes` must be a JSON object,
 * with `unset` allowed only as an object's value, nested at most `maxDepth` deep (default
 * {@link DEFAULT_MAX_DEPTH}); otherwise `ValidationError` names the path (e.g. `changes.a.b`).
 */
export function applyChanges(context: JsonObject, changes: object, maxDepth: number = DEFAULT_MAX_DEPTH): JsonObject {
  if (!isPlainObject(context)) {
    throw new ValidationError('context', `must be a JSON object, got ${describe(context)}`);
  }
  if (!isPlainObject(changes)) {
    throw new ValidationError('changes', `must be a JSON object, got ${describe(changes)}`);
  }
  validateJson(withoutUnset(changes, new Set(), maxDepth), 'changes', maxDepth);
  return merge(context, changes);
}
