/**
 * The hand-written reference: what a careful engineer would write on `pg` alone for the same
 * contract, with the same SQL shape as PrismaBackend (one statement per callback, the same
 * statements), named prepared statements on a `pg.Pool`, and only the JavaScript the result needs
 * (bigint strings to numbers). No input validation beyond what the SQL casts do, no error mapping:
 * it is the floor chord-sync's overhead is measured against, not a library.
 */
import pg from 'pg';
import { calculateDelta, isEmptyDelta, mergeDeltas } from 'chord-sync';
import type { ContextRecord, Delta, DeltaCount, DeltaRecord, JsonObject, ListOptions } from 'chord-sync';
import { quoteIdent } from '../lib/database.js';

type Row = Record<string, unknown>;

const CONTEXT_COLUMNS = 'context_id, context, version, inserted_at';
const DELTA_COLUMNS = 'context_id, delta, version, inserted_at';

function toContext(row: Row): ContextRecord {
  return { contextId: row.context_id as string, context: row.context as JsonObject, version: Number(row.version), insertedAt: Number(row.inserted_at) };
}

function toDelta(row: Row): DeltaRecord {
  return { contextId: row.context_id as string, delta: row.delta as Delta, version: Number(row.version), insertedAt: Number(row.inserted_at) };
}

export type ReferenceSync =
  | { kind: 'full'; context: ContextRecord }
  | { kind: 'delta'; delta: Delta; fromVersion: number; version: number }
  | { kind: 'no_change'; version: number };

let nextStatementId = 0;

export class PgReference {
  readonly #pool: pg.Pool;
  readonly #sql: Record<string, { name: string; text: string }> = {};
  readonly #c: string;
  readonly #d: string;
  readonly #deltaThreshold = 100;

  constructor(connectionString: string, schema: string, poolSize = 10) {
    this.#pool = new pg.Pool({ connectionString, max: poolSize, keepAlive: true });
    this.#pool.on('error', () => {});
    const c = `${quoteIdent(schema)}.chord_contexts`;
    const d = `${quoteIdent(schema)}.chord_deltas`;
    this.#c = c;
    this.#d = d;
    const texts: Record<string, string> = {
      getContext: `SELECT ${CONTEXT_COLUMNS} FROM ${c} WHERE context_id = $1`,
      setContext:
        `INSERT INTO ${c} (${CONTEXT_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (context_id) ` +
        `DO UPDATE SET context = EXCLUDED.context, version = EXCLUDED.version, inserted_at = EXCLUDED.inserted_at`,
      deleteContext: `DELETE FROM ${c} WHERE context_id = $1`,
      setDelta:
        `INSERT INTO ${d} (${DELTA_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (context_id, version) ` +
        `DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at`,
      getDeltas: `SELECT ${DELTA_COLUMNS} FROM ${d} WHERE context_id = $1 AND version > $2 ORDER BY version`,
      deleteDeltasForContext: `DELETE FROM ${d} WHERE context_id = $1`,
      deleteDeltasByTime: `DELETE FROM ${d} WHERE context_id = $1 AND inserted_at < $2`,
      deleteDeltasExceedingThreshold:
        `DELETE FROM ${d} WHERE context_id = $1 AND version <= ` +
        `(SELECT version FROM ${d} WHERE context_id = $1 ORDER BY version DESC OFFSET $2 LIMIT 1)`,
      writeVersion:
        `WITH ctx AS (UPDATE ${c} SET context = $2, version = $4::bigint + 1, inserted_at = $5 ` +
        `WHERE context_id = $1 AND version = $4 RETURNING context_id, version, inserted_at) ` +
        `INSERT INTO ${d} (${DELTA_COLUMNS}) SELECT context_id, $3, version, inserted_at FROM ctx ` +
        `ON CONFLICT (context_id, version) DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at RETURNING version`,
      writeVersionInsert:
        `WITH ctx AS (INSERT INTO ${c} (${CONTEXT_COLUMNS}) VALUES ($1, $2, 1, $4) ON CONFLICT (context_id) DO NOTHING ` +
        `RETURNING context_id, version, inserted_at) ` +
        `INSERT INTO ${d} (${DELTA_COLUMNS}) SELECT context_id, $3, version, inserted_at FROM ctx ` +
        `ON CONFLICT (context_id, version) DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at RETURNING version`,
      // The limit of a sync: one round trip for the context and the deltas the client needs.
      readSync:
        `SELECT c.context_id, c.context, c.version, c.inserted_at, ` +
        `CASE WHEN c.version > $2 AND c.version - $2 <= $3 THEN ` +
        `(SELECT json_agg(x.delta ORDER BY x.version) FROM ${d} x WHERE x.context_id = $1 AND x.version > $2 AND x.version <= c.version ` +
        `HAVING count(*) = c.version - $2) END AS deltas ` +
        `FROM ${c} c WHERE c.context_id = $1`,
      listContexts: `SELECT ${CONTEXT_COLUMNS} FROM ${c} ORDER BY context_id LIMIT $1`,
      listDeltasOfContext: `SELECT ${DELTA_COLUMNS} FROM ${d} WHERE context_id = $1 ORDER BY context_id, version LIMIT $2`,
      listContextsWithDeltaCounts: `SELECT context_id, count(*) AS count FROM ${d} GROUP BY context_id ORDER BY context_id LIMIT $1`,
      deleteDeltasOlderThan: `DELETE FROM ${d} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${d} WHERE inserted_at < $1 LIMIT $2))`,
      deleteDeltasBeyondNewest:
        `DELETE FROM ${d} WHERE ctid = ANY(ARRAY(SELECT x.ctid FROM (SELECT DISTINCT context_id FROM ${d}) ids ` +
        `CROSS JOIN LATERAL (SELECT version AS cut FROM ${d} k WHERE k.context_id = ids.context_id ORDER BY version DESC OFFSET $1 LIMIT 1) cut ` +
        `JOIN ${d} x ON x.context_id = ids.context_id AND x.version <= cut.cut LIMIT $2))`,
    };
    const id = nextStatementId++;
    for (const [key, text] of Object.entries(texts)) this.#sql[key] = { name: `ref_${id}_${key}`, text };
  }

  /** Replaces a statement's text (when the library under test changes its SQL shape, the reference follows). */
  setStatement(key: string, text: string): void {
    this.#sql[key] = { name: `ref_${nextStatementId++}_${key}`, text };
  }

  async #query(key: string, values: unknown[]): Promise<pg.QueryResult<Row>> {
    const s = this.#sql[key]!;
    return this.#pool.query<Row>({ name: s.name, text: s.text, values });
  }

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    const insertedAt = Date.now();
    await this.#query('setContext', [contextId, JSON.stringify(context), version, insertedAt]);
    return { contextId, context, version, insertedAt };
  }

  async getContext(contextId: string): Promise<ContextRecord | null> {
    const { rows } = await this.#query('getContext', [contextId]);
    return rows[0] === undefined ? null : toContext(rows[0]);
  }

  async deleteContext(contextId: string): Promise<number> {
    return (await this.#query('deleteContext', [contextId])).rowCount ?? 0;
  }

  async setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord> {
    const insertedAt = Date.now();
    await this.#query('setDelta', [contextId, JSON.stringify(delta), version, insertedAt]);
    return { contextId, delta, version, insertedAt };
  }

  async getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]> {
    return (await this.#query('getDeltas', [contextId, clientVersion])).rows.map(toDelta);
  }

  async deleteDeltasForContext(contextId: string): Promise<number> {
    return (await this.#query('deleteDeltasForContext', [contextId])).rowCount ?? 0;
  }

  async deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number> {
    return (await this.#query('deleteDeltasByTime', [contextId, olderThanTime])).rowCount ?? 0;
  }

  async deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number> {
    return (await this.#query('deleteDeltasExceedingThreshold', [contextId, versionThreshold])).rowCount ?? 0;
  }

  /** The reference lists only the shapes the bench calls: a limit, or a context id and a limit. */
  async listContexts(options: Pick<ListOptions, 'limit'>): Promise<ContextRecord[]> {
    return (await this.#query('listContexts', [options.limit ?? null])).rows.map(toContext);
  }

  async listDeltas(options: Pick<ListOptions, 'contextId' | 'limit'>): Promise<DeltaRecord[]> {
    return (await this.#query('listDeltasOfContext', [options.contextId, options.limit ?? null])).rows.map(toDelta);
  }

  async listContextsWithDeltaCounts(options: Pick<ListOptions, 'limit'>): Promise<DeltaCount[]> {
    const { rows } = await this.#query('listContextsWithDeltaCounts', [options.limit ?? null]);
    return rows.map((row) => ({ contextId: row.context_id as string, count: Number(row.count) }));
  }

  async writeVersion(contextId: string, context: JsonObject, delta: Delta, expectedVersion: number): Promise<{ context: ContextRecord; delta: DeltaRecord }> {
    const insertedAt = Date.now();
    const key = expectedVersion === 0 ? 'writeVersionInsert' : 'writeVersion';
    const values = expectedVersion === 0
      ? [contextId, JSON.stringify(context), JSON.stringify(delta), insertedAt]
      : [contextId, JSON.stringify(context), JSON.stringify(delta), expectedVersion, insertedAt];
    const { rows } = await this.#query(key, values);
    if (rows.length === 0) throw new Error(`version conflict on ${contextId}`);
    const version = expectedVersion + 1;
    return { context: { contextId, context, version, insertedAt }, delta: { contextId, delta, version, insertedAt } };
  }

  async deleteDeltasOlderThan(olderThanTime: number, batchSize: number): Promise<number> {
    return (await this.#query('deleteDeltasOlderThan', [olderThanTime, batchSize])).rowCount ?? 0;
  }

  async deleteDeltasBeyondNewest(keep: number, batchSize: number): Promise<number> {
    return (await this.#query('deleteDeltasBeyondNewest', [keep, batchSize])).rowCount ?? 0;
  }

  /** The engine's write by hand: read, diff, one compare-and-set statement. */
  async write(contextId: string, next: JsonObject): Promise<void> {
    const current = await this.getContext(contextId);
    const delta = calculateDelta(current?.context ?? {}, next);
    if (current !== null && isEmptyDelta(delta)) return;
    await this.writeVersion(contextId, next, delta, current?.version ?? 0);
  }

  /** The engine's sync by hand: one statement for the context and the deltas after the client's version, merged. */
  async sync(contextId: string, clientVersion: number): Promise<ReferenceSync> {
    const { rows } = await this.#query('readSync', [contextId, clientVersion, this.#deltaThreshold]);
    const row = rows[0];
    if (row === undefined) throw new Error(`no context ${contextId}`);
    const context = toContext(row);
    const version = context.version;
    if (clientVersion > version) return { kind: 'full', context };
    if (clientVersion === version) return { kind: 'no_change', version };
    const deltas = row.deltas as Delta[] | null;
    if (deltas === null) return { kind: 'full', context };
    return { kind: 'delta', delta: mergeDeltas(deltas), fromVersion: clientVersion, version };
  }

  get contextsTable(): string {
    return this.#c;
  }

  get deltasTable(): string {
    return this.#d;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
