// The write retry loop: read, compute, compare-and-set, and on a lost race start over.
import { setTimeout as sleep } from 'node:timers/promises';
import { hasAtomicVersionWriter } from '../backend.js';
import type { ChordBackend, WriteIdRecorder, WriteReceipt } from '../backend.js';
import { calculateTrustedDelta } from '../delta/index.js';
import { NotFoundError, VersionConflictError } from '../errors.js';
import type { WriteControl } from './chord-options.js';
import type { ContextRecord, Delta, JsonObject } from '../types.js';
import type { WriteResult } from './chord-types.js';

/** Longest pause between two write attempts, in ms; pauses grow from 1 ms up to this. */
const MAX_RETRY_PAUSE_MS = 64;

/**
 * Read, compute, compare-and-set, and on a lost race (without `expectedVersion`) start over from
 * a fresh read, so the change is always applied to the latest stored context. At most
 * `maxAttempts` tries; the caller queues its own writes to the context, so only other processes
 * can make a compare-and-set fail. With `control.writeId` the write is applied at most once: the
 * backend's receipt is checked first and stored with the write (see `WriteIdRecorder`).
 */
export async function writeWithRetries(
  backend: ChordBackend,
  maxAttempts: number,
  contextId: string,
  control: WriteControl,
  compute: (current: ContextRecord | null) => JsonObject,
): Promise<WriteResult> {
  const { expectedVersion, epoch, writeId } = control;
  // validateWriteOptions allows writeId only on a backend that records write ids.
  const recorder = writeId === undefined ? undefined : (backend as ChordBackend & WriteIdRecorder);
  for (let attempt = 1; ; attempt++) {
    const [current, receipt] = await Promise.all([
      backend.getContext(contextId),
      recorder === undefined || writeId === undefined ? null : recorder.getWriteReceipt(contextId, writeId.clientId),
    ]);
    // Applied before (a retry whose answer was lost): answered from the receipt, whatever the
    // version or epoch is now.
    if (writeId !== undefined && receipt !== null && receipt.writeId >= writeId.writeId) return duplicateOf(backend, contextId, current, receipt);
    const readVersion = current?.version ?? 0;
    // Set once the write reached the compare-and-set: only losing that race is retried.
    let stored = false;
    try {
      if (expectedVersion !== undefined && expectedVersion !== readVersion) {
        throw new VersionConflictError(contextId, expectedVersion, readVersion);
      }
      if (epoch !== undefined && current?.epoch !== epoch) {
        throw new VersionConflictError(contextId, expectedVersion ?? readVersion, readVersion, {
          message: `epoch conflict on context ${JSON.stringify(contextId)}: the write is for epoch ${JSON.stringify(epoch)}, the context ${current === null ? 'does not exist' : `is in epoch ${JSON.stringify(current.epoch ?? null)}`}`,
        });
      }
      const next = compute(current);
      const delta = calculateTrustedDelta(current?.context ?? {}, next);
      // A missing context is created even by an empty change (`setContext(id, {})`): the caller
      // asked for it to exist.
      // The trusted diff returns {} exactly when nothing changed (isEmptyDelta would validate it again).
      const unchanged = current !== null && Object.keys(delta).length === 0;
      stored = true;
      if (recorder !== undefined && writeId !== undefined) {
        // Even a write that changes nothing stores its receipt: its retry must not apply later.
        const once = await recorder.writeVersionOnce(contextId, unchanged ? current.context : next, unchanged ? null : delta, readVersion, writeId);
        if (once.duplicate) return duplicateOf(backend, contextId, current, once.receipt);
        return once.written === null ? { context: current as ContextRecord, delta: null } : { context: once.written.context, delta: once.written.delta };
      }
      if (unchanged) return { context: current, delta: null };
      return await store(backend, contextId, next, delta, readVersion);
    } catch (error) {
      if (!(error instanceof VersionConflictError)) throw error;
      // The same write, retried while its first try was still running elsewhere, may have won:
      // then this is its duplicate, not a conflict.
      if (recorder !== undefined && writeId !== undefined) {
        const after = await recorder.getWriteReceipt(contextId, writeId.clientId);
        if (after !== null && after.writeId >= writeId.writeId) return duplicateOf(backend, contextId, null, after);
      }
      const retry = stored && expectedVersion === undefined && attempt < maxAttempts;
      if (!retry) throw error;
    }
    await sleep(retryPause(attempt));
  }
}

/** The answer to a write already applied: the context as stored now, and what the write produced. */
async function duplicateOf(backend: ChordBackend, contextId: string, read: ContextRecord | null, receipt: WriteReceipt): Promise<WriteResult> {
  // Read before the first try created it (a retry racing its create), or not read yet.
  const current = read ?? (await backend.getContext(contextId));
  // The receipt goes with its context; read apart from it, a delete may have come in between.
  if (current === null) throw new NotFoundError(contextId);
  return { context: current, delta: null, duplicate: receipt };
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
