// Export and restore: the user callbacks (`exportContext`, `contextProvider`), the check of what a
// provider returns, and the restore write itself.
import { hasAtomicRestorer } from '../backend.js';
import type { ChordBackend } from '../backend.js';
import { calculateDelta, isEmptyDelta } from '../delta/index.js';
import { CallbackError, ChordError, ValidationError, VersionConflictError } from '../errors.js';
import type { ContextRecord, JsonObject } from '../types.js';
import { type JsonLimits, describe, serializeJsonObject, validateVersion } from '../validation.js';

/** Runs a user callback; whatever it throws (a ChordError aside) becomes a CallbackError keeping it as `cause`. */
export async function callback<T>(name: string, contextId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ChordError) throw error;
    throw new CallbackError(name, contextId, error instanceof Error ? error.message : describe(error), { cause: error });
  }
}

/** What a `contextProvider` returned (not `null`), checked: a JSON object within `limits` and a version that can be written on. */
export function validateProvidedContext(provided: unknown, limits: Required<JsonLimits>): { context: JsonObject; version: number } {
  if (provided === null || typeof provided !== 'object' || Array.isArray(provided)) {
    throw new ValidationError('contextProvider result', `must be { context, version } or null, got ${describe(provided)}`);
  }
  const { context: candidate, version } = provided as { context?: unknown; version?: unknown };
  serializeJsonObject(candidate, 'contextProvider result.context', limits);
  const context = candidate as JsonObject;
  validateVersion(version, 'contextProvider result.version');
  if (version < 1) throw new ValidationError('contextProvider result.version', 'must be at least 1 (0 means no context)');
  // A context at the largest safe version could never be written again: every write would fail.
  if (version >= Number.MAX_SAFE_INTEGER) {
    throw new ValidationError('contextProvider result.version', `must be below ${Number.MAX_SAFE_INTEGER}, so the restored context can be written on`);
  }
  return { context, version };
}

/**
 * Stores `context` at `version` and drops the context's deltas, unless the stored version is
 * ahead (or equal with other data): then `VersionConflictError`. The caller queues its own writes
 * to the context around this.
 */
export async function restoreVersion(backend: ChordBackend, contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
  const current = await backend.getContext(contextId);
  if (current !== null) {
    if (version < current.version) throw new VersionConflictError(contextId, version, current.version);
    if (version === current.version) {
      if (isEmptyDelta(calculateDelta(current.context, context))) return current;
      throw new VersionConflictError(contextId, version, current.version);
    }
  }
  // The backend writes only if the stored version is still the one just read, so a write that
  // landed since (from another process) is never overwritten: the restore fails with
  // VersionConflictError instead, and the caller decides.
  if (hasAtomicRestorer(backend)) return backend.restoreVersion(contextId, context, version, current?.version ?? 0);
  // Context first, then deltas: a delta a racing writer adds on top of the restored version may
  // be deleted too, which sync reports as a gap (full context) rather than a delta from elsewhere.
  const record = await backend.setContext(contextId, context, version);
  await backend.deleteDeltasForContext(contextId);
  return record;
}
