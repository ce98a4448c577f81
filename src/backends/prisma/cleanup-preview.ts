import pg from 'pg';
import { mapDriverError } from './driver-errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './prisma-backend.js';
import { quoteIdent } from './statements.js';

/** What a cleanup would delete now, by step, as `Chord.cleanup()` reports what it deleted. */
export interface CleanupPreview {
  readonly contextsDeleted: number;
  readonly deltasDeleted: { readonly withContexts: number; readonly expired: number; readonly beyondThreshold: number; readonly total: number };
}

/** The cleanup to preview: cutoffs already computed from the TTLs (null: the step is off). */
export interface CleanupPreviewOptions {
  readonly contextCutoff: number | null;
  readonly deltaCutoff: number | null;
  readonly deltaThreshold: number;
  readonly contextId?: string;
}

/**
 * Counts what the three cleanup steps would delete, in their order (deltas of idle contexts go with
 * them; expiry counts among the rest; the threshold among what expiry leaves), in one read-only
 * statement: `chord-sync cleanup --dry-run`.
 */
export async function previewCleanup(connectionString: string, schema: string, options: CleanupPreviewOptions): Promise<CleanupPreview> {
  const c = `${quoteIdent(schema)}."chord_contexts"`;
  const d = `${quoteIdent(schema)}."chord_deltas"`;
  const sql =
    `WITH idle AS (SELECT context_id FROM ${c} WHERE $1::bigint IS NOT NULL AND inserted_at < $1::bigint AND ($4::text IS NULL OR context_id = $4::text)), ` +
    `rest AS (SELECT x.context_id, x.version, x.inserted_at FROM ${d} x WHERE ($4::text IS NULL OR x.context_id = $4::text) ` +
    `AND NOT EXISTS (SELECT 1 FROM idle i WHERE i.context_id = x.context_id)), ` +
    `kept AS (SELECT context_id, version FROM rest WHERE $2::bigint IS NULL OR inserted_at >= $2::bigint), ` +
    `ranked AS (SELECT row_number() OVER (PARTITION BY context_id ORDER BY version DESC) AS r FROM kept) ` +
    `SELECT (SELECT count(*) FROM idle) AS contexts, ` +
    `(SELECT count(*) FROM ${d} x WHERE x.context_id IN (SELECT context_id FROM idle)) AS with_contexts, ` +
    `(SELECT count(*) FROM rest) - (SELECT count(*) FROM kept) AS expired, ` +
    `(SELECT count(*) FROM ranked WHERE r > $3::bigint) AS beyond`;
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: DEFAULT_CONNECT_TIMEOUT_MS });
  client.on('error', () => {}); // a dropped connection fails the query below instead
  try {
    await client.connect();
    const { rows } = await client.query<{ contexts: string; with_contexts: string; expired: string; beyond: string }>(sql, [
      options.contextCutoff === null ? null : String(options.contextCutoff),
      options.deltaCutoff === null ? null : String(options.deltaCutoff),
      String(options.deltaThreshold),
      options.contextId ?? null,
    ]);
    const row = rows[0]!;
    const withContexts = Number(row.with_contexts);
    const expired = Number(row.expired);
    const beyondThreshold = Number(row.beyond);
    return {
      contextsDeleted: Number(row.contexts),
      deltasDeleted: { withContexts, expired, beyondThreshold, total: withContexts + expired + beyondThreshold },
    };
  } catch (error) {
    throw mapDriverError(error, 'cleanup --dry-run');
  } finally {
    await client.end().catch(() => {});
  }
}
