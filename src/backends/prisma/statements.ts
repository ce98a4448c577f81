import type { ListOptions } from '../../backend.js';
import { notifyChannel, pokeExpression, quoteLiteral } from './notifications.js';
import type { SqlParam } from './sql-executor.js';

/** `"name"` with embedded quotes doubled: a PostgreSQL identifier that can hold any characters. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A statement and its parameters. */
export interface Statement {
  readonly sql: string;
  readonly params: SqlParam[];
}

const CONTEXT_COLUMNS = 'context_id, context, version, inserted_at, epoch';
const DELTA_COLUMNS = 'context_id, delta, version, inserted_at';

/**
 * The SQL of every PrismaBackend operation for one schema. Texts that take no dynamic parts are
 * built once here, so each call reuses the same string (and, on the `pg` path, the same prepared
 * statement). Every value is a bound parameter cast to its column type; integers travel as decimal
 * strings so no driver rounds them through a double.
 */
export class ChordStatements {
  readonly contexts: string;
  readonly deltas: string;
  /** The channel every change of a context is poked on (`pg_notify`). */
  readonly channel: string;
  /** Pokes `$1` (a JSON array of payload texts) on {@link channel}, in one statement; → `n` sent. */
  readonly poke: string;

  readonly getContext: string;
  readonly setContext: string;
  readonly deleteContext: string;
  readonly setDelta: string;
  readonly getDeltas: string;
  readonly readForSync: string;
  readonly deleteDeltasForContext: string;
  readonly deleteDeltasByTime: string;
  readonly deleteDeltasExceedingThreshold: string;
  /** Compare-and-set when a context is expected to exist at `$4`. */
  readonly writeVersionUpdate: string;
  /** Compare-and-set when no context is expected (`expectedVersion` 0). */
  readonly writeVersionInsert: string;
  /** Restore: the context at `$3` only if none is stored at `$3` or above (and the stored version is `$6` when given), and its deltas deleted, in one statement. */
  readonly restoreVersion: string;
  readonly deleteIdleContexts: string;
  readonly deleteDeltasOlderThan: string;
  readonly deleteDeltasBeyondNewest: string;
  readonly writes: string;
  /** The receipt of `($1, $2)`: `write_id, version, epoch`. */
  readonly getWriteReceipt: string;
  /** `writeVersionUpdate` that also stores the receipt (`$6` client, `$7` write id), only if none at `$7` or later is stored. */
  readonly writeOnceUpdate: string;
  /** `writeVersionInsert` that also stores the receipt (`$7` client, `$8` write id). */
  readonly writeOnceInsert: string;
  /** The receipt of a write that changed nothing (`$3` client, `$4` write id, `$5` now), if the context is still at `$2`. */
  readonly recordUnchangedWrite: string;

  constructor(schema: string) {
    const c = `${quoteIdent(schema)}."chord_contexts"`;
    const d = `${quoteIdent(schema)}."chord_deltas"`;
    const w = `${quoteIdent(schema)}."chord_writes"`;
    this.writes = w;
    this.contexts = c;
    this.deltas = d;
    // Deletes, restores and seed-path writes poke from inside their own statement (the poke commits
    // with them); version writes, the hot path, are poked after commit in batches (PokeBatcher),
    // because a NOTIFY in the write's own transaction holds PostgreSQL's global notify lock through
    // its commit flush: about 7× the time for 16 concurrent writers (docs/live.md).
    const channel = notifyChannel(schema);
    this.channel = channel;
    const poke = (id: string, version: string): string => pokeExpression(channel, id, version);
    this.poke = `SELECT count(*) AS n FROM json_array_elements_text($1::json) AS p(payload) WHERE pg_notify(${quoteLiteral(channel)}, p.payload) IS NOT NULL`;

    this.getContext = `SELECT ${CONTEXT_COLUMNS} FROM ${c} WHERE context_id = $1::text`;
    this.setContext =
      `INSERT INTO ${c} AS t (${CONTEXT_COLUMNS}) VALUES ($1::text, $2::jsonb, $3::bigint, $4::bigint, $5::text) ` +
      `ON CONFLICT (context_id) DO UPDATE SET context = EXCLUDED.context, version = EXCLUDED.version, inserted_at = EXCLUDED.inserted_at ` +
      `RETURNING t.epoch, ${poke('t.context_id', 't.version')} AS poked`;
    // Receipts go with their context.
    this.deleteContext =
      `WITH gone_writes AS (DELETE FROM ${w} WHERE context_id = $1::text) ` +
      `DELETE FROM ${c} WHERE context_id = $1::text RETURNING ${poke('context_id', 'NULL::bigint')} AS poked`;
    this.setDelta =
      `INSERT INTO ${d} AS t (${DELTA_COLUMNS}) VALUES ($1::text, $2::jsonb, $3::bigint, $4::bigint) ` +
      `ON CONFLICT (context_id, version) DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at`;
    this.getDeltas = `SELECT ${DELTA_COLUMNS} FROM ${d} WHERE context_id = $1::text AND version > $2::bigint ORDER BY version`;
    // A sync's reads in one statement (one snapshot). First the head and, only when the client is 1
    // to `$3` versions behind, how many of the deltas it needs are stored and their stored size
    // (pg_column_size reads no TOAST); then the deltas as one JSON text array of
    // [version, inserted_at, delta] only when all are there and within the byte budget
    // (`max(context size, $4)`), else the context, unless the client is current. So a far-behind
    // client never makes the server build (or this process parse) more than about a context.
    // With `$5`/`$6` (the version and epoch up to which the caller holds the merged deltas; NULL for
    // none), a context in that epoch at or past that version, within `$3` of the client, whose
    // client's next delta is still stored (pruning goes oldest first: the rest are there too),
    // reads only the deltas after `$5` (none when it is still there): `lo` is where they start.
    this.readForSync =
      `WITH h0 AS (SELECT version, epoch, inserted_at, pg_column_size(context) AS size, ` +
      `coalesce(epoch = $6::text AND $5::bigint > $2::bigint AND $5::bigint <= version AND version - $2::bigint <= $3::bigint ` +
      `AND EXISTS (SELECT 1 FROM ${d} f WHERE f.context_id = $1::text AND f.version = $2::bigint + 1), false) AS known ` +
      `FROM ${c} WHERE context_id = $1::text), ` +
      `h AS (SELECT h0.*, CASE WHEN known THEN $5::bigint ELSE $2::bigint END AS lo FROM h0), ` +
      `s AS (SELECT count(*) AS n, coalesce(sum(pg_column_size(x.delta)), 0) AS size FROM ${d} x, h ` +
      `WHERE x.context_id = $1::text AND x.version > h.lo AND x.version <= h.version ` +
      `AND h.version > $2::bigint AND h.version - $2::bigint <= $3::bigint), ` +
      `ok AS (SELECT h.version > $2::bigint AND h.version - $2::bigint <= $3::bigint AND s.n = h.version - h.lo ` +
      `AND s.size <= greatest(h.size, $4::bigint) AS usable FROM h, s) ` +
      `SELECT h.version, h.epoch, h.inserted_at, h.known AND ok.usable AS known, ` +
      `CASE WHEN ok.usable AND h.version > h.lo THEN (SELECT json_agg(json_build_array(x.version::text, x.inserted_at::text, x.delta) ORDER BY x.version)::text ` +
      `FROM ${d} x WHERE x.context_id = $1::text AND x.version > h.lo AND x.version <= h.version) END AS deltas, ` +
      `CASE WHEN NOT ok.usable AND h.version <> $2::bigint THEN (SELECT context FROM ${c} WHERE context_id = $1::text) END AS context ` +
      `FROM h, ok`;
    this.deleteDeltasForContext = `DELETE FROM ${d} WHERE context_id = $1::text`;
    // Receipts age with the deltas (the count is of deltas).
    this.deleteDeltasByTime =
      `WITH old_writes AS (DELETE FROM ${w} WHERE context_id = $1::text AND inserted_at < $2::bigint) ` +
      `DELETE FROM ${d} WHERE context_id = $1::text AND inserted_at < $2::bigint`;
    // The cut is the version of the (N+1)-th newest delta, read from the primary-key index
    // backwards; everything at or below it goes. Fewer than N+1 deltas: the cut is NULL, nothing goes.
    this.deleteDeltasExceedingThreshold =
      `DELETE FROM ${d} WHERE context_id = $1::text AND version <= ` +
      `(SELECT version FROM ${d} WHERE context_id = $1::text ORDER BY version DESC OFFSET $2::bigint LIMIT 1)`;

    // One statement for the whole version write. Every part of a statement sees the same snapshot,
    // so `current` is the version before this write; the delta is inserted only from the row the
    // compare-and-set returned, so context and delta are written both or neither.
    const writeTail =
      `, delta_row AS (INSERT INTO ${d} AS t (${DELTA_COLUMNS}) ` +
      `SELECT context_id, $3::jsonb, version, inserted_at FROM ctx_row ` +
      `ON CONFLICT (context_id, version) DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at RETURNING version) ` +
      `SELECT (SELECT version FROM delta_row) AS written, (SELECT epoch FROM ctx_row) AS epoch, ` +
      `(SELECT version FROM ${c} WHERE context_id = $1::text) AS current`;
    this.writeVersionUpdate =
      `WITH ctx_row AS (UPDATE ${c} SET context = $2::jsonb, version = $4::bigint + 1, inserted_at = $5::bigint ` +
      `WHERE context_id = $1::text AND version = $4::bigint RETURNING context_id, version, inserted_at, epoch)` +
      writeTail;
    // `$4` is 0 here; a row already stored at version 0 (by setContext) counts as "no version yet"
    // and keeps its epoch; a new row takes the epoch `$6`.
    this.writeVersionInsert =
      `WITH ctx_row AS (INSERT INTO ${c} AS t (${CONTEXT_COLUMNS}) VALUES ($1::text, $2::jsonb, $4::bigint + 1, $5::bigint, $6::text) ` +
      `ON CONFLICT (context_id) DO UPDATE SET context = EXCLUDED.context, version = EXCLUDED.version, inserted_at = EXCLUDED.inserted_at ` +
      `WHERE t.version = $4::bigint RETURNING t.context_id, t.version, t.inserted_at, t.epoch)` +
      writeTail;

    // Writes applied at most once per (context, client, write id). The context write happens only
    // if the statement's snapshot holds no receipt at this write id or later; the receipt is then
    // upserted from the row written, again only over an older one. Every receipt is written under
    // the context row's lock with its version checked (an unchanged write takes the lock with a
    // no-op UPDATE), so a retry racing its first try waits for it, then finds the version moved
    // (or, unchanged, the receipt there) and writes nothing: the caller reads the receipt again.
    this.getWriteReceipt = `SELECT write_id, version, epoch FROM ${w} WHERE context_id = $1::text AND client_id = $2::text`;
    const receiptOf = (client: string): string => `(SELECT json_build_array(write_id::text, version::text, epoch)::text FROM ${w} WHERE context_id = $1::text AND client_id = ${client}::text) AS receipt`;
    const unseen = (client: string, writeId: string): string => `NOT EXISTS (SELECT 1 FROM ${w} WHERE context_id = $1::text AND client_id = ${client}::text AND write_id >= ${writeId}::bigint)`;
    const receiptUpsert = (client: string, writeId: string): string =>
      `receipt_row AS (INSERT INTO ${w} AS r (context_id, client_id, write_id, version, epoch, inserted_at) ` +
      `SELECT context_id, ${client}::text, ${writeId}::bigint, version, epoch, inserted_at FROM ctx_row ` +
      `ON CONFLICT (context_id, client_id) DO UPDATE SET write_id = EXCLUDED.write_id, version = EXCLUDED.version, epoch = EXCLUDED.epoch, inserted_at = EXCLUDED.inserted_at ` +
      `WHERE r.write_id < EXCLUDED.write_id RETURNING 1)`;
    const onceTail = (client: string, writeId: string): string =>
      `, delta_row AS (INSERT INTO ${d} AS t (${DELTA_COLUMNS}) ` +
      `SELECT context_id, $3::jsonb, version, inserted_at FROM ctx_row ` +
      `ON CONFLICT (context_id, version) DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at RETURNING version), ` +
      receiptUpsert(client, writeId) +
      ` SELECT (SELECT version FROM delta_row) AS written, (SELECT epoch FROM ctx_row) AS epoch, ` +
      `(SELECT version FROM ${c} WHERE context_id = $1::text) AS current, ${receiptOf(client)}`;
    this.writeOnceUpdate =
      `WITH ctx_row AS (UPDATE ${c} SET context = $2::jsonb, version = $4::bigint + 1, inserted_at = $5::bigint ` +
      `WHERE context_id = $1::text AND version = $4::bigint AND ${unseen('$6', '$7')} RETURNING context_id, version, inserted_at, epoch)` +
      onceTail('$6', '$7');
    this.writeOnceInsert =
      `WITH ctx_row AS (INSERT INTO ${c} AS t (${CONTEXT_COLUMNS}) SELECT $1::text, $2::jsonb, $4::bigint + 1, $5::bigint, $6::text WHERE ${unseen('$7', '$8')} ` +
      `ON CONFLICT (context_id) DO UPDATE SET context = EXCLUDED.context, version = EXCLUDED.version, inserted_at = EXCLUDED.inserted_at ` +
      `WHERE t.version = $4::bigint RETURNING t.context_id, t.version, t.inserted_at, t.epoch)` +
      onceTail('$7', '$8');
    this.recordUnchangedWrite =
      `WITH ctx_row AS (UPDATE ${c} SET version = version WHERE context_id = $1::text AND version = $2::bigint AND ${unseen('$3', '$4')} ` +
      `RETURNING context_id, version, epoch, $5::bigint AS inserted_at), ` +
      receiptUpsert('$3', '$4') +
      ` SELECT (SELECT count(*) FROM receipt_row) AS recorded, (SELECT epoch FROM ctx_row) AS epoch, ` +
      `(SELECT version FROM ${c} WHERE context_id = $1::text) AS current, ${receiptOf('$3')}`;

    // The upsert re-checks its WHERE on the row as locked, so a write that committed meanwhile is
    // seen; the deltas go only if the context was written (both or neither). A writer racing with
    // it waits on the row lock, then finds a version it did not expect.
    this.restoreVersion =
      `WITH ctx_row AS (INSERT INTO ${c} AS t (${CONTEXT_COLUMNS}) ` +
      `SELECT $1::text, $2::jsonb, $3::bigint, $4::bigint, $5::text ` +
      // With an expected version above 0, a row must still be there: no restore onto a context deleted meanwhile.
      `WHERE $6::bigint IS NULL OR $6::bigint = 0 OR EXISTS (SELECT 1 FROM ${c} WHERE context_id = $1::text) ` +
      `ON CONFLICT (context_id) DO UPDATE SET context = EXCLUDED.context, version = EXCLUDED.version, inserted_at = EXCLUDED.inserted_at ` +
      `WHERE t.version < EXCLUDED.version AND ($6::bigint IS NULL OR t.version = $6::bigint) RETURNING t.version, t.epoch, ${poke('t.context_id', 't.version')} AS poked), ` +
      `gone AS (DELETE FROM ${d} WHERE context_id = $1::text AND EXISTS (SELECT 1 FROM ctx_row)) ` +
      `SELECT (SELECT version FROM ctx_row) AS written, (SELECT epoch FROM ctx_row) AS epoch, ` +
      `(SELECT version FROM ${c} WHERE context_id = $1::text) AS current`;

    // Oldest first, so repeated batches make progress through the backlog; SKIP LOCKED leaves a
    // context being written right now (so not idle) to a later run instead of waiting on it.
    this.deleteIdleContexts =
      `WITH victim AS (SELECT context_id FROM ${c} WHERE inserted_at < $1::bigint ORDER BY inserted_at LIMIT $2::bigint FOR UPDATE SKIP LOCKED), ` +
      `gone AS (DELETE FROM ${c} t USING victim v WHERE t.context_id = v.context_id RETURNING t.context_id, ${poke('t.context_id', 'NULL::bigint')} AS poked), ` +
      `gone_deltas AS (DELETE FROM ${d} t USING gone g WHERE t.context_id = g.context_id RETURNING 1), ` +
      `gone_writes AS (DELETE FROM ${w} t USING gone g WHERE t.context_id = g.context_id) ` +
      `SELECT (SELECT count(*) FROM gone) AS contexts, (SELECT count(*) FROM gone_deltas) AS deltas`;
    // ctid = ANY(ARRAY(…)) is a TID scan: the batch is found by the inserted_at index and deleted
    // by physical address, with no second lookup by key.
    this.deleteDeltasOlderThan =
      `WITH old_writes AS (DELETE FROM ${w} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${w} WHERE inserted_at < $1::bigint LIMIT $2::bigint))) ` +
      `DELETE FROM ${d} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${d} WHERE inserted_at < $1::bigint LIMIT $2::bigint))`;
    // Per context id (each read once from the primary-key index), the cut is the version of its
    // (keep+1)-th newest delta, found by a LATERAL probe of the same index; then at most a batch of
    // the rows at or below their cut.
    this.deleteDeltasBeyondNewest =
      `DELETE FROM ${d} WHERE ctid = ANY(ARRAY(` +
      `SELECT x.ctid FROM (SELECT DISTINCT context_id FROM ${d}) ids ` +
      `CROSS JOIN LATERAL (SELECT version AS cut FROM ${d} k WHERE k.context_id = ids.context_id ORDER BY version DESC OFFSET $1::bigint LIMIT 1) cut ` +
      `JOIN ${d} x ON x.context_id = ids.context_id AND x.version <= cut.cut ` +
      `LIMIT $2::bigint))`;
  }

  /** `listContexts` with the given filters, ordered by id, paged. */
  listContexts(options: ListOptions): Statement {
    const { where, params } = filters(options);
    const dir = options.order === 'desc' ? 'DESC' : 'ASC';
    return page(`SELECT ${CONTEXT_COLUMNS} FROM ${this.contexts}${where} ORDER BY context_id ${dir}`, params, options);
  }

  /** `listDeltas` with the given filters, ordered by (id, version), paged. */
  listDeltas(options: ListOptions): Statement {
    const { where, params } = filters(options);
    const dir = options.order === 'desc' ? 'DESC' : 'ASC';
    return page(`SELECT ${DELTA_COLUMNS} FROM ${this.deltas}${where} ORDER BY context_id ${dir}, version ${dir}`, params, options);
  }

  /** A grouped count of the deltas passing the filters, per id, ordered by id, paged in SQL. */
  listContextsWithDeltaCounts(options: ListOptions): Statement {
    const { where, params } = filters(options);
    const dir = options.order === 'desc' ? 'DESC' : 'ASC';
    return page(
      `SELECT context_id, count(*) AS count FROM ${this.deltas}${where} GROUP BY context_id ORDER BY context_id ${dir}`,
      params,
      options,
    );
  }
}

function filters(options: ListOptions): { where: string; params: SqlParam[] } {
  const clauses: string[] = [];
  const params: SqlParam[] = [];
  if (options.contextId !== undefined) {
    params.push(options.contextId);
    clauses.push(`context_id = $${params.length}::text`);
  }
  if (options.version !== undefined) {
    params.push(String(options.version));
    clauses.push(`version = $${params.length}::bigint`);
  }
  if (options.insertedAt !== undefined) {
    params.push(String(options.insertedAt));
    clauses.push(`inserted_at >= $${params.length}::bigint`);
  }
  return { where: clauses.length === 0 ? '' : ` WHERE ${clauses.join(' AND ')}`, params };
}

function page(sql: string, params: SqlParam[], options: ListOptions): Statement {
  let text = sql;
  if (options.limit !== undefined) {
    params.push(String(options.limit));
    text += ` LIMIT $${params.length}::bigint`;
  }
  if (options.offset !== undefined && options.offset > 0) {
    params.push(String(options.offset));
    text += ` OFFSET $${params.length}::bigint`;
  }
  return { sql: text, params };
}
