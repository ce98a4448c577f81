import type { DeltaCount } from '../../backend.js';
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
