import type { DeltaCount, SyncRead } from '../../backend.js';
import { isPlainObject } from '../../delta/json.js';
import { CorruptDataError } from '../../errors.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from '../../types.js';
import { describe } from '../../validation.js';

/** A bigint column as any driver returns it (pg: string; Prisma: bigint; count(*) alike) as a number. */
export function toNumber(value: unknown): number {
  // Values are ≤ Number.MAX_SAFE_INTEGER (validation refuses more), so the conversion is exact.
  return typeof value === 'number' ? value : Number(value);
}

/**
 * A stored context as read: pg, Prisma and PGlite all hand a jsonb column over parsed, so anything
 * but a JSON object (a JSON string, an array, null) was not written by chord-sync: `CorruptDataError`.
 */
export function storedContext(value: unknown, contextId: string, version: unknown): JsonObject {
  if (isPlainObject(value)) return value;
  throw new CorruptDataError(contextId, versionOf(version), 'context', `a context is a JSON object, found ${describe(value)}`);
}

/**
 * A stored delta as read. To the storage contract a delta is any JSON object (the conformance suite
 * stores arbitrary ones), so only that is checked here: a JSON string, an array or null was not
 * written through the contract. Whether an object is a well-formed delta the engine checks when it
 * merges, and answers a sync with the full context if it is not.
 */
export function storedDelta(value: unknown, contextId: string, version: unknown): Delta {
  if (isPlainObject(value)) return value as Delta;
  throw new CorruptDataError(contextId, versionOf(version), 'delta', `a delta is a JSON object, found ${describe(value)}`);
}

function versionOf(value: unknown): number | undefined {
  const version = value === null || value === undefined ? Number.NaN : toNumber(value);
  return Number.isSafeInteger(version) ? version : undefined;
}

export interface ContextRow {
  [column: string]: unknown;
  context_id: string;
  context: unknown;
  version: unknown;
  inserted_at: unknown;
  epoch: unknown;
}

export interface DeltaRow {
  [column: string]: unknown;
  context_id: string;
  delta: unknown;
  version: unknown;
  inserted_at: unknown;
}

export interface CountRow {
  [column: string]: unknown;
  context_id: string;
  count: unknown;
}

export function toContextRecord(row: ContextRow): ContextRecord {
  return {
    contextId: row.context_id,
    context: storedContext(row.context, row.context_id, row.version),
    version: toNumber(row.version),
    insertedAt: toNumber(row.inserted_at),
    epoch: String(row.epoch),
  };
}

export function toDeltaRecord(row: DeltaRow): DeltaRecord {
  return { contextId: row.context_id, delta: storedDelta(row.delta, row.context_id, row.version), version: toNumber(row.version), insertedAt: toNumber(row.inserted_at) };
}

export function toDeltaCount(row: CountRow): DeltaCount {
  return { contextId: row.context_id, count: toNumber(row.count) };
}

export interface SyncRow {
  [column: string]: unknown;
  version: unknown;
  epoch: unknown;
  inserted_at: unknown;
  /** JSON text of an array of `[version, inserted_at, delta]` (text, text, object), or null. */
  deltas: unknown;
  /** The context, only when the deltas can't serve the client; else null. */
  context: unknown;
  /** Whether the caller's known version and epoch matched (nothing else read). */
  known?: unknown;
}

/** A {@link SyncRow} as the head, the deltas (when usable) and the context (when needed). */
export function toSyncRead(contextId: string, row: SyncRow): SyncRead {
  const raw = (typeof row.deltas === 'string' ? JSON.parse(row.deltas) : row.deltas) as [string, string, unknown][] | null;
  const deltas = (raw ?? []).map(([version, insertedAt, delta]): DeltaRecord => ({
    contextId,
    delta: storedDelta(delta, contextId, version),
    version: toNumber(version),
    insertedAt: toNumber(insertedAt),
  }));
  return {
    version: toNumber(row.version),
    epoch: String(row.epoch),
    insertedAt: toNumber(row.inserted_at),
    deltas,
    context: row.context === null || row.context === undefined ? null : storedContext(row.context, contextId, row.version),
    ...(row.known === true || row.known === 't' ? { known: true as const } : {}),
  };
}
