import type { DeltaCount, SyncRead } from '../../backend.js';
import { parseDelta } from '../../delta/index.js';
import { isPlainObject } from '../../delta/json.js';
import { CorruptDataError, ValidationError } from '../../errors.js';
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

/** A stored delta as read, checked by the delta module's own validation (a stored delta is a full one, never a wire delta). */
export function storedDelta(value: unknown, contextId: string, version: unknown): Delta {
  try {
    parseDelta(value, 'delta', 'full');
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new CorruptDataError(contextId, versionOf(version), 'delta', error.message.replace(/^invalid delta: /, ''), { cause: error });
  }
  return value as Delta;
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
  return { contextId: row.context_id, context: storedContext(row.context, row.context_id, row.version), version: toNumber(row.version), insertedAt: toNumber(row.inserted_at) };
}

export function toDeltaRecord(row: DeltaRow): DeltaRecord {
  return { contextId: row.context_id, delta: storedDelta(row.delta, row.context_id, row.version), version: toNumber(row.version), insertedAt: toNumber(row.inserted_at) };
}

export function toDeltaCount(row: CountRow): DeltaCount {
  return { contextId: row.context_id, count: toNumber(row.count) };
}

export interface SyncRow extends ContextRow {
  /** JSON array of `[version, inserted_at, delta]` (text, text, object), or null. */
  deltas: unknown;
}

/** A {@link SyncRow} as the context and its deltas. */
export function toSyncRead(row: SyncRow): SyncRead {
  const context = toContextRecord(row);
  const raw = (typeof row.deltas === 'string' ? JSON.parse(row.deltas) : row.deltas) as [string, string, unknown][] | null;
  const deltas = (raw ?? []).map(([version, insertedAt, delta]): DeltaRecord => ({
    contextId: context.contextId,
    delta: storedDelta(delta, context.contextId, version),
    version: toNumber(version),
    insertedAt: toNumber(insertedAt),
  }));
  return { context, deltas };
}
