import type { DeltaCount, SyncRead } from '../../backend.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from '../../types.js';

/** A bigint column as any driver returns it (pg: string; Prisma: bigint; count(*) alike) as a number. */
export function toNumber(value: unknown): number {
  // Values are ≤ Number.MAX_SAFE_INTEGER (validation refuses more), so the conversion is exact.
  return typeof value === 'number' ? value : Number(value);
}

/** A jsonb column: Prisma and pg parse it already; a string here is JSON text (contexts are objects, never strings). */
function toObject(value: unknown): JsonObject {
  return (typeof value === 'string' ? JSON.parse(value) : value) as JsonObject;
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
  return { contextId: row.context_id, context: toObject(row.context), version: toNumber(row.version), insertedAt: toNumber(row.inserted_at) };
}

export function toDeltaRecord(row: DeltaRow): DeltaRecord {
  return { contextId: row.context_id, delta: toObject(row.delta) as Delta, version: toNumber(row.version), insertedAt: toNumber(row.inserted_at) };
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
    delta: toObject(delta) as Delta,
    version: toNumber(version),
    insertedAt: toNumber(insertedAt),
  }));
  return { context, deltas };
}
