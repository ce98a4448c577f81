// The write retry loop: read, compute, compare-and-set, and on a lost race start over.
import { setTimeout as sleep } from 'node:timers/promises';
import { hasAtomicVersionWriter } from '../backend.js';
import type { ChordBackend } from '../backend.js';
import { calculateTrustedDelta } from '../delta/index.js';
import { VersionConflictError } from '../errors.js';
import type { ContextRecord, Delta, JsonObject } from '../types.js';
import type { WriteResult } from './chord-types.js';

/** Longest pause between two write attempts, in ms; pauses grow from 1 ms up to this. */
const MAX_RETRY_PAUSE_MS = 64;

/**
 * Read, compute, compare-and-set, and on a lost race (without `expectedVersion`) start over from
 * a fresh read, so the change is always applied to the latest stored context. At most
 * `maxAttempts` tries; the caller queues its own writes to the context, so only other processes
 * can make a compare-and-set fail.
 */
export async function writeWithRetries(
  backend: ChordBackend,
  maxAttempts: number,
  contextId: string,
  expectedVersion: number | undefined,
  compute: (current: ContextRecord | null) => JsonObject,
): Promise<WriteResult> {
  for (let attempt = 1; ; attempt++) {
    const current = await backend.getContext(contextId);
    const readVersion = current?.version ?? 0;
    if (expectedVersion !== undefined && expectedVersion !== readVersion) {
      throw new VersionConflictError(contextId, expectedVersion, readVersion);
    }
    const next = compute(current);
    const delta = calculateTrustedDelta(current?.context ?? {}, next);
    // A missing context is created even by an empty change (`setContext(id, {})`): the caller
    // asked for it to exist.
    // The trusted diff returns {} exactly when nothing changed (isEmptyDelta would validate it again).
    if (current !== null && Object.keys(delta).length === 0) return { context: current, delta: null };
    try {
      return await store(backend, contextId, next, delta, readVersion);
    } catch (error) {
      const retry = error instanceof VersionConflictError && expectedVersion === undefined && attempt < maxAttempts;
      if (!retry) throw error;
    }
    await sleep(retryPause(attempt));
  }
}

async function store(backend: ChordBackend, contextId: string, context: JsonObject, delta: Delta, readVersion: number): Promise<WriteResult> {
  if (hasAtomicVersionWriter(backend)) {
    const written = await backend.writeVersion(contextId, context, delta, readVersion);
    return { context: written.context, delta: written.delta };
  }
  // A seed backend has no compare-and-set: this is NOT atomic, and two writers racing here can
  // both store the same version. Delta first, so a crash in between leaves a delta past the
  // stored version (ignored by sync) rather than a context without its delta.
  const deltaRecord = await backend.setDelta(contextId, delta, readVersion + 1);
  const contextRecord = await backend.setContext(contextId, context, readVersion + 1);
  return { context: contextRecord, delta: deltaRecord };
}

/** Exponential backoff with full jitter, so writers that lost together don't collide again. */
function retryPause(attempt: number): number {
  const ceiling = Math.min(MAX_RETRY_PAUSE_MS, 2 ** attempt);
  return Math.floor(Math.random() * ceiling);
}
