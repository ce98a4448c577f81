import pg from 'pg';
import type {
  ChangeListener,
  ChangeSubscription,
  AtomicRestorer,
  AtomicVersionWriter,
  BackendClockConfig,
  BulkCleanup,
  ChordBackend,
  DeltaCount,
  IdleContextsDeleted,
  ListOptions,
  SyncKnown,
  SyncRead,
  SyncReader,
  VersionWriteResult,
  OnceWriteResult,
  WriteId,
  WriteIdRecorder,
  WriteReceipt,
} from '../../backend.js';
import { SYNC_DELTA_BYTES_FLOOR, newEpoch, serializeOnceWrite, validateClientId } from '../../backend.js';
import { ValidationError, VersionConflictError } from '../../errors.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from '../../types.js';
import {
  type JsonLimits,
  deltaLimits,
  describe,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateBatchSize,
  validateContextId,
  validateCount,
  validateSyncKnown,
  validateListOptions,
  validateTimestamp,
  validateVersion,
  validateOptions,
} from '../../validation.js';
import { type ConflictSubject, mapDriverError } from './driver-errors.js';
import { toContextRecord, toDeltaCount, toDeltaRecord, toNumber, toSyncRead, type ContextRow, type CountRow, type DeltaRow, type SyncRow } from './rows.js';
import type { PgQueryPool, PrismaRawClient, SqlExecutor } from './sql-executor.js';
import { ChordStatements } from './statements.js';
import { type PGliteListener, type PGliteChangeFeed, type PgChangeFeed, PokeBatcher, pokePayload, validatePGliteListener } from './notifications.js';
import { runExclusiveCleanup } from './cleanup-lock.js';
import { DEFAULT_SCHEMA, resolveSchema, splitSchemaParam, validateSchemaName } from './connection-schema.js';
import {
  type OpenLockSession,
  type PrismaConnection,
  type PrismaDriverAdapter,
  adapterConnection,
  appPoolConnection,
  clientConnection,
  ownPoolConnection,
} from './connection-forms.js';

export { DEFAULT_SCHEMA } from './connection-schema.js';
/** Default time to wait for a new connection before `BackendUnavailableError`: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default number of connections in the pool the backend creates for `{ connectionString }`. */
export const DEFAULT_POOL_SIZE = 10;
/** Default longest run of one statement on the backend's own connections before `TimeoutError`: 30 s. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** Default longest wait for a row lock another session holds before `TimeoutError`: 5 s. */
export const DEFAULT_ROW_LOCK_TIMEOUT_MS = 5_000;
/** The largest statement_timeout / lock_timeout PostgreSQL takes (INT_MAX ms). */
const MAX_SESSION_TIMEOUT_MS = 2_147_483_647;

export type { PrismaDriverAdapter } from './connection-forms.js';

/** Options every form of {@link PrismaBackendConfig} accepts. */
export interface PrismaBackendCommonConfig extends BackendClockConfig {
  /** Bounds on contexts and deltas; larger or deeper values are refused with `ValidationError`. Default: 100 levels, 16 MiB. */
  readonly limits?: JsonLimits;
  /**
   * The PostgreSQL schema holding `chord_contexts` and `chord_deltas`. Default: the URL's
   * `?schema=` for `{ connectionString }` (both given and different: `ValidationError`), else
   * {@link DEFAULT_SCHEMA} (`chord`).
   */
  readonly schema?: string;
}

/**
 * The backend creates and owns a `pg.Pool` and sends its statements to it directly (prepared, no
 * Prisma query layer in between); `close()` ends the pool.
 */
export interface PrismaBackendConnectionConfig extends PrismaBackendCommonConfig {
  /** A PostgreSQL URL, e.g. `postgresql://user:pass@host:5432/db`. */
  readonly connectionString: string;
  /** How long to wait for a connection before failing with `BackendUnavailableError`. Default: {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /** Most connections the pool opens. Default: {@link DEFAULT_POOL_SIZE}. */
  readonly poolSize?: number;
  /**
   * Longest a statement may run (PostgreSQL's `statement_timeout` on each connection); past it the
   * database cancels it and the call fails with `TimeoutError` (`timeout: 'statement'`), nothing
   * written. 0: no limit. Default: {@link DEFAULT_STATEMENT_TIMEOUT_MS}. Sent as a startup
   * parameter: behind PgBouncer, list it in `ignore_startup_parameters` or set 0 and put the
   * limit on the role.
   */
  readonly statementTimeoutMs?: number;
  /**
   * Longest a statement waits for a row lock another session holds (PostgreSQL's `lock_timeout`);
   * past it the call fails with `TimeoutError` (`timeout: 'lock'`), nothing written. 0: wait up to
   * `statementTimeoutMs`. Default: {@link DEFAULT_ROW_LOCK_TIMEOUT_MS}.
   */
  readonly lockTimeoutMs?: number;
  /**
   * Called when an idle pooled connection fails (e.g. the server restarted). The pool drops it and
   * connects anew on the next call either way. Default: ignore.
   */
  readonly onPoolError?: (error: Error) => void;
  /**
   * Whether cleanup passes (`cleanup`, `startCleanup`) of several processes on one schema take
   * turns, by a PostgreSQL advisory lock held on a session of its own beside the pool's. Set
   * `false` for a server that serves one session at a time (PGlite's socket server), where that
   * second session would wait for the pool's to end and each pass would fail after
   * `connectTimeoutMs`; passes may then overlap, which costs work but loses nothing. Default: true.
   */
  readonly cleanupLock?: boolean;
}

/**
 * A `pg.Pool` the app already has: the backend sends its statements to it directly (prepared, as
 * for `{ connectionString }`) and never ends it; `close()` leaves it open.
 */
export interface PrismaBackendPoolConfig extends PrismaBackendCommonConfig {
  readonly pool: PgQueryPool;
}

/** A Prisma client the caller made and keeps: the backend uses only its raw-SQL methods and never disconnects it. */
export interface PrismaBackendClientConfig extends PrismaBackendCommonConfig {
  readonly prisma: PrismaRawClient;
  /** The PGlite instance behind `prisma`, to listen for changes on; without it `watch` polls. */
  readonly listen?: PGliteListener;
}

/** Any Prisma driver adapter; the backend makes a client over it and disconnects that client in `close()`. */
export interface PrismaBackendAdapterConfig extends PrismaBackendCommonConfig {
  readonly adapter: PrismaDriverAdapter;
  /**
   * The PGlite instance behind `adapter` (e.g. `new PrismaPGlite(db)` → `listen: db`), so the
   * backend hears changes through PGlite's own `listen()` and `watch` is pushed, not polled.
   * Without it a backend on an adapter has no change notices.
   */
  readonly listen?: PGliteListener;
}

/**
 * How {@link PrismaBackend} reaches PostgreSQL: exactly one of `connectionString`, `pool`,
 * `prisma` or `adapter`. The connect timeout and pool size apply to the `connectionString` form; with
 * `prisma` or `adapter` the caller's driver settings govern them.
 */
export type PrismaBackendConfig =
  | PrismaBackendConnectionConfig
  | PrismaBackendPoolConfig
  | PrismaBackendClientConfig
  | PrismaBackendAdapterConfig;

// Every form's keys: a key of another form is refused by the exactly-one-form check below.
const PRISMA_CONFIG_KEYS = new Set([
  'clock',
  'limits',
  'schema',
  'connectionString',
  'connectTimeoutMs',
  'poolSize',
  'statementTimeoutMs',
  'lockTimeoutMs',
  'onPoolError',
  'cleanupLock',
  'pool',
  'prisma',
  'adapter',
  'listen',
]);

function validateConfig(config: unknown): asserts config is PrismaBackendConfig {
  const c = validateOptions(config, 'config', 'PrismaBackend', PRISMA_CONFIG_KEYS, 'an object with connectionString, pool, prisma or adapter');
  const forms = ['connectionString', 'pool', 'prisma', 'adapter'].filter((key) => c[key] !== undefined);
  if (forms.length !== 1) {
    throw new ValidationError('config', `must have exactly one of connectionString, pool, prisma or adapter, got ${forms.length === 0 ? 'none' : forms.join(' and ')}`);
  }
  if (c.connectionString !== undefined && (typeof c.connectionString !== 'string' || c.connectionString === '')) {
    throw new ValidationError('config.connectionString', `must be a non-empty string, got ${describe(c.connectionString)}`);
  }
  if (c.pool !== undefined) {
    const p = c.pool as { query?: unknown } | null;
    if (p === null || typeof p !== 'object' || typeof p.query !== 'function') {
      throw new ValidationError('config.pool', `must be a pg.Pool (with query()), got ${describe(c.pool)}`);
    }
  }
  if (c.prisma !== undefined) {
    const p = c.prisma as Partial<PrismaRawClient> | null;
    if (p === null || typeof p !== 'object' || typeof p.$queryRawUnsafe !== 'function' || typeof p.$executeRawUnsafe !== 'function') {
      throw new ValidationError('config.prisma', 'must be a Prisma client ($queryRawUnsafe and $executeRawUnsafe)');
    }
  }
  if (c.adapter !== undefined && (c.adapter === null || typeof c.adapter !== 'object')) {
    throw new ValidationError('config.adapter', `must be a Prisma driver adapter, got ${describe(c.adapter)}`);
  }
  if (c.clock !== undefined && typeof c.clock !== 'function') {
    throw new ValidationError('config.clock', `must be a function returning an integer, got ${describe(c.clock)}`);
  }
  if (c.schema !== undefined) validateSchemaName(c.schema, 'config.schema');
  for (const key of ['connectTimeoutMs', 'poolSize']) {
    const value = c[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)) {
      throw new ValidationError(`config.${key}`, `must be an integer ≥ 1, got ${describe(value)}`);
    }
  }
  for (const key of ['statementTimeoutMs', 'lockTimeoutMs']) {
    const value = c[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > MAX_SESSION_TIMEOUT_MS)) {
      throw new ValidationError(`config.${key}`, `must be an integer from 0 (no limit) to ${MAX_SESSION_TIMEOUT_MS} (ms), got ${describe(value)}`);
    }
  }
  if (c.listen !== undefined) {
    if (c.adapter === undefined && c.prisma === undefined) {
      throw new ValidationError('config.listen', 'is for the adapter and prisma forms (connectionString and pool listen by themselves)');
    }
    validatePGliteListener(c.listen, 'config.listen');
  }
  if (c.cleanupLock !== undefined) {
    if (c.connectionString === undefined) throw new ValidationError('config.cleanupLock', 'is for the connectionString form (the others take no cleanup lock)');
    if (typeof c.cleanupLock !== 'boolean') throw new ValidationError('config.cleanupLock', `must be a boolean, got ${describe(c.cleanupLock)}`);
  }
  if (c.onPoolError !== undefined && typeof c.onPoolError !== 'function') {
    throw new ValidationError('config.onPoolError', `must be a function, got ${describe(c.onPoolError)}`);
  }
}

/**
 * The chord-sync backend on PostgreSQL through Prisma 7: tables `chord_contexts` and
 * `chord_deltas` (create them with `migrate` / `chord-sync migrate`, or `prisma migrate deploy`).
 * Each method is one SQL statement; `writeVersion` is a single compare-and-set statement and the
 * bulk cleanup methods are set-based, batch-bounded deletes.
 *
 * ```ts
 * const backend = new PrismaBackend({ connectionString: process.env.DATABASE_URL! });
 * // …
 * await backend.close();
 * ```
 */
export class PrismaBackend implements ChordBackend, AtomicVersionWriter, AtomicRestorer, BulkCleanup, SyncReader, WriteIdRecorder {
  readonly #clock: () => number;
  readonly #limits: Required<JsonLimits>;
  readonly #sql: ChordStatements;
  readonly #exec: SqlExecutor;
  /** The client the backend made (and so must disconnect); undefined for `{ prisma }`. */
  readonly #ownClient: { $disconnect(): Promise<void> } | undefined;
  /** The pool the backend made (and so must end); only for `{ connectionString }`. */
  readonly #ownPool: pg.Pool | undefined;
  /** The schema of the tables (and the name of the cleanup lock). */
  readonly #schema: string;
  /** Opens a session of its own for the cleanup lock; undefined for the Prisma forms, which have none to give. */
  readonly #lockSession: OpenLockSession | undefined;
  #closed: Promise<void> | undefined;
  /** Where change notices come from: a listening session of its own, PGlite's listen(), or none. */
  readonly #changes: PgChangeFeed | PGliteChangeFeed | undefined;
  /** Pokes of version writes, sent after commit in batches (see notifications.ts for why). */
  readonly #pokes: PokeBatcher;
  /**
   * The `ChangeNotifier` capability, present when the backend can listen: with
   * `connectionString` (one dedicated listening connection per backend, reconnecting by itself),
   * `pool` (a connection of that pool, held while anything is subscribed), or `listen` (PGlite).
   * Every change of a context is poked, whichever form wrote it: deletes, restores, cleanup
   * deletions and seed-path writes from inside their own statement (the poke commits with them);
   * version writes, the hot path, after commit in batches ({@link PokeBatcher}), or inside the
   * caller's transaction when the statement runs in one.
   */
  readonly subscribeChanges?: (listener: ChangeListener) => ChangeSubscription;

  /** Validates `config` (throws `ValidationError` naming the field); connects lazily, on the first call. */
  constructor(config: PrismaBackendConfig) {
    validateConfig(config);
    this.#clock = config.clock ?? Date.now;
    this.#limits = resolveLimits(config.limits);
    const url = 'connectionString' in config && config.connectionString !== undefined ? splitSchemaParam(config.connectionString, 'config.connectionString') : undefined;
    const schema = resolveSchema(config.schema, url?.schema, 'config.schema');
    this.#sql = new ChordStatements(schema);
    this.#schema = schema;

    const channel = this.#sql.channel;
    let connection: PrismaConnection;
    if ('connectionString' in config && config.connectionString !== undefined) {
      connection = ownPoolConnection(
        {
          url: url?.url ?? config.connectionString,
          poolSize: config.poolSize ?? DEFAULT_POOL_SIZE,
          connectTimeoutMs: config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
          statementTimeoutMs: config.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
          lockTimeoutMs: config.lockTimeoutMs ?? DEFAULT_ROW_LOCK_TIMEOUT_MS,
          onPoolError: config.onPoolError ?? (() => {}),
          cleanupLock: config.cleanupLock !== false,
        },
        channel,
      );
    } else if ('pool' in config && config.pool !== undefined) {
      connection = appPoolConnection(config.pool, channel);
    } else if ('adapter' in config && config.adapter !== undefined) {
      connection = adapterConnection(config.adapter, config.listen, channel);
    } else {
      const { prisma, listen } = config as PrismaBackendClientConfig;
      connection = clientConnection(prisma, listen, channel);
    }
    this.#exec = connection.exec;
    this.#ownPool = connection.ownPool;
    this.#ownClient = connection.ownClient;
    this.#lockSession = connection.lockSession;
    this.#changes = connection.changes;
    this.#pokes = new PokeBatcher((payloads) => this.#exec.query(this.#sql.poke, [payloads]));
    const changes = this.#changes;
    if (changes !== undefined) {
      this.subscribeChanges = (listener) => {
        if (this.#closed !== undefined) throw new ValidationError('PrismaBackend', 'is closed: subscribeChanges after close()');
        return changes.subscribe(listener);
      };
    }
  }

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    const now = readClock(this.#clock);
    const rows = await this.#run('setContext', contextId, () =>
      this.#exec.query<{ epoch: unknown }>(this.#sql.setContext, [contextId, text, String(version), String(now), newEpoch()]),
    );
    return { contextId, context: JSON.parse(text) as JsonObject, version, insertedAt: now, epoch: String(rows[0]?.epoch) };
  }

  async getContext(contextId: string): Promise<ContextRecord | null> {
    validateContextId(contextId);
    const rows = await this.#run('getContext', contextId, () => this.#exec.query<ContextRow>(this.#sql.getContext, [contextId]));
    const row = rows[0];
    return row === undefined ? null : toContextRecord(row);
  }

  async deleteContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return this.#run('deleteContext', contextId, () => this.#exec.execute(this.#sql.deleteContext, [contextId]));
  }

  async setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(version);
    const now = readClock(this.#clock);
    await this.#run('setDelta', contextId, () =>
      this.#exec.execute(this.#sql.setDelta, [contextId, text, String(version), String(now)]),
    );
    return { contextId, delta: JSON.parse(text) as Delta, version, insertedAt: now };
  }

  async getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    const rows = await this.#run('getDeltas', contextId, () =>
      this.#exec.query<DeltaRow>(this.#sql.getDeltas, [contextId, String(clientVersion)]),
    );
    return rows.map(toDeltaRecord);
  }

  async readForSync(contextId: string, clientVersion: number, maxBehind: number, known?: SyncKnown): Promise<SyncRead | null> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    validateCount(maxBehind, 'maxBehind');
    if (known !== undefined) validateSyncKnown(known);
    const rows = await this.#run('readForSync', contextId, () =>
      this.#exec.query<SyncRow>(this.#sql.readForSync, [
        contextId,
        String(clientVersion),
        String(maxBehind),
        String(SYNC_DELTA_BYTES_FLOOR),
        known === undefined ? null : String(known.version),
        known === undefined ? null : known.epoch,
      ]),
    );
    const row = rows[0];
    return row === undefined ? null : toSyncRead(contextId, row);
  }

  async deleteDeltasForContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return this.#run('deleteDeltasForContext', contextId, () => this.#exec.execute(this.#sql.deleteDeltasForContext, [contextId]));
  }

  async deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number> {
    validateContextId(contextId);
    validateTimestamp(olderThanTime, 'olderThanTime');
    return this.#run('deleteDeltasByTime', contextId, () =>
      this.#exec.execute(this.#sql.deleteDeltasByTime, [contextId, String(olderThanTime)]),
    );
  }

  async deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number> {
    validateContextId(contextId);
    validateCount(versionThreshold, 'versionThreshold');
    return this.#run('deleteDeltasExceedingThreshold', contextId, () =>
      this.#exec.execute(this.#sql.deleteDeltasExceedingThreshold, [contextId, String(versionThreshold)]),
    );
  }

  async listContexts(options?: ListOptions): Promise<ContextRecord[]> {
    const statement = this.#sql.listContexts(validateListOptions(options));
    const rows = await this.#run('listContexts', undefined, () => this.#exec.query<ContextRow>(statement.sql, statement.params));
    return rows.map(toContextRecord);
  }

  async listContextsWithDeltaCounts(options?: ListOptions): Promise<DeltaCount[]> {
    const statement = this.#sql.listContextsWithDeltaCounts(validateListOptions(options));
    const rows = await this.#run('listContextsWithDeltaCounts', undefined, () =>
      this.#exec.query<CountRow>(statement.sql, statement.params),
    );
    return rows.map(toDeltaCount);
  }

  async listDeltas(options?: ListOptions): Promise<DeltaRecord[]> {
    const statement = this.#sql.listDeltas(validateListOptions(options));
    const rows = await this.#run('listDeltas', undefined, () => this.#exec.query<DeltaRow>(statement.sql, statement.params));
    return rows.map(toDeltaRecord);
  }

  /**
   * Stores `context` and `delta` as version `expectedVersion + 1` in one statement, only if the
   * stored version is still `expectedVersion` (`0`: none stored); otherwise writes nothing and
   * throws `VersionConflictError` with the stored version when known.
   */
  async writeVersion(contextId: string, context: JsonObject, delta: Delta, expectedVersion: number): Promise<VersionWriteResult> {
    validateContextId(contextId);
    const contextText = serializeJsonObject(context, 'context', this.#limits);
    const deltaText = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(expectedVersion, 'expectedVersion');
    if (expectedVersion >= Number.MAX_SAFE_INTEGER) {
      throw new ValidationError('expectedVersion', `must be below ${Number.MAX_SAFE_INTEGER} so the next version is exact`);
    }
    const now = readClock(this.#clock);
    const params = [contextId, contextText, deltaText, String(expectedVersion), String(now)];
    // Only the insert form can create the row, so only it takes a new epoch.
    const [sql, values] =
      expectedVersion === 0 ? [this.#sql.writeVersionInsert, [...params, newEpoch()]] : [this.#sql.writeVersionUpdate, params];
    const rows = await this.#run(
      'writeVersion',
      contextId,
      () => this.#exec.query<{ written: unknown; current: unknown; epoch: unknown }>(sql, values),
      { contextId, expectedVersion },
    );
    const row = rows[0];
    if (row === undefined || row.written === null || row.written === undefined) {
      const current = row?.current === null || row?.current === undefined ? 0 : toNumber(row.current);
      // The statement's snapshot can predate the write that beat us; then "current" still equals
      // the expected version and the real one is unknown.
      throw new VersionConflictError(contextId, expectedVersion, current === expectedVersion ? undefined : current);
    }
    const version = expectedVersion + 1;
    await this.#pokeWritten('writeVersion', contextId, version);
    return {
      context: { contextId, context: JSON.parse(contextText) as JsonObject, version, insertedAt: now, epoch: String(row.epoch) },
      delta: { contextId, delta: JSON.parse(deltaText) as Delta, version, insertedAt: now },
    };
  }

  /** Tells watchers everywhere that `contextId` is at `version` now. */
  async #pokeWritten(method: string, contextId: string, version: number): Promise<void> {
    if (this.#exec.inCallerTransaction === true) {
      // In the caller's transaction the poke goes in it too, now: PostgreSQL delivers it on commit
      // and drops it on rollback, while a batch sent later would find the transaction closed.
      await this.#run(method, contextId, () => this.#exec.query(this.#sql.poke, [JSON.stringify([pokePayload(contextId, version)])]));
    } else {
      this.#pokes.add(contextId, version);
    }
  }

  async getWriteReceipt(contextId: string, clientId: string): Promise<WriteReceipt | null> {
    validateContextId(contextId);
    validateClientId(clientId);
    const rows = await this.#run('getWriteReceipt', contextId, () =>
      this.#exec.query<{ write_id: unknown; version: unknown; epoch: unknown }>(this.#sql.getWriteReceipt, [contextId, clientId]),
    );
    const row = rows[0];
    return row === undefined ? null : { writeId: toNumber(row.write_id), version: toNumber(row.version), epoch: String(row.epoch) };
  }

  /**
   * {@link writeVersion} (or, with a `null` delta, only a check of the version) and the receipt of
   * `write` in one statement, only if no receipt at `write.writeId` or later is stored; see
   * `WriteIdRecorder`.
   */
  async writeVersionOnce(contextId: string, context: JsonObject, delta: Delta | null, expectedVersion: number, write: WriteId): Promise<OnceWriteResult> {
    const { contextText, deltaText } = serializeOnceWrite(contextId, context, delta, expectedVersion, write, this.#limits);
    const now = readClock(this.#clock);
    type OnceRow = { written?: unknown; recorded?: unknown; current: unknown; epoch: unknown; receipt: unknown };
    let sql: string;
    let values: (string | null)[];
    if (deltaText === null) {
      [sql, values] = [this.#sql.recordUnchangedWrite, [contextId, String(expectedVersion), write.clientId, String(write.writeId), String(now)]];
    } else {
      const params = [contextId, contextText, deltaText, String(expectedVersion), String(now)];
      [sql, values] =
        expectedVersion === 0
          ? [this.#sql.writeOnceInsert, [...params, newEpoch(), write.clientId, String(write.writeId)]]
          : [this.#sql.writeOnceUpdate, [...params, write.clientId, String(write.writeId)]];
    }
    const rows = await this.#run('writeVersionOnce', contextId, () => this.#exec.query<OnceRow>(sql, values), { contextId, expectedVersion });
    const row = rows[0];
    const done = deltaText === null ? row !== undefined && toNumber(row.recorded ?? 0) > 0 : row !== undefined && row.written !== null && row.written !== undefined;
    if (!done) {
      // The statement's snapshot showed a receipt at this write id or later: a duplicate.
      if (typeof row?.receipt === 'string') {
        const [writeId, version, epoch] = JSON.parse(row.receipt) as [string, string, string];
        if (Number(writeId) >= write.writeId) return { duplicate: true, receipt: { writeId: Number(writeId), version: Number(version), epoch } };
      }
      const current = row?.current === null || row?.current === undefined ? 0 : toNumber(row.current);
      throw new VersionConflictError(contextId, expectedVersion, current === expectedVersion ? undefined : current);
    }
    if (deltaText === null) return { duplicate: false, written: null };
    const version = expectedVersion + 1;
    await this.#pokeWritten('writeVersionOnce', contextId, version);
    return {
      duplicate: false,
      written: {
        context: { contextId, context: JSON.parse(contextText) as JsonObject, version, insertedAt: now, epoch: String(row?.epoch) },
        delta: { contextId, delta: JSON.parse(deltaText) as Delta, version, insertedAt: now },
      },
    };
  }

  /**
   * Stores `context` at `version` and deletes the context's deltas in one statement, only if no
   * context is stored at `version` or above; otherwise writes nothing and throws `VersionConflictError`.
   */
  async restoreVersion(contextId: string, context: JsonObject, version: number, expectedVersion?: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    if (expectedVersion !== undefined) validateVersion(expectedVersion, 'expectedVersion');
    const now = readClock(this.#clock);
    const rows = await this.#run('restoreVersion', contextId, () =>
      this.#exec.query<{ written: unknown; current: unknown; epoch: unknown }>(this.#sql.restoreVersion, [
        contextId,
        text,
        String(version),
        String(now),
        newEpoch(),
        expectedVersion === undefined ? null : String(expectedVersion),
      ]),
    );
    const row = rows[0];
    if (row === undefined || row.written === null || row.written === undefined) {
      // The statement's snapshot may predate the write that won; then "current" is not it.
      const current = row?.current === null || row?.current === undefined ? 0 : toNumber(row.current);
      const known = current >= version || (expectedVersion !== undefined && current !== expectedVersion);
      throw new VersionConflictError(contextId, expectedVersion ?? version, known ? current : undefined);
    }
    return { contextId, context: JSON.parse(text) as JsonObject, version, insertedAt: now, epoch: String(row.epoch) };
  }

  async deleteIdleContexts(olderThanTime: number, batchSize: number): Promise<IdleContextsDeleted> {
    validateTimestamp(olderThanTime, 'olderThanTime');
    validateBatchSize(batchSize);
    const rows = await this.#run('deleteIdleContexts', undefined, () =>
      this.#exec.query<{ contexts: unknown; deltas: unknown }>(this.#sql.deleteIdleContexts, [String(olderThanTime), String(batchSize)]),
    );
    return { contexts: toNumber(rows[0]?.contexts ?? 0), deltas: toNumber(rows[0]?.deltas ?? 0) };
  }

  async deleteDeltasOlderThan(olderThanTime: number, batchSize: number): Promise<number> {
    validateTimestamp(olderThanTime, 'olderThanTime');
    validateBatchSize(batchSize);
    return this.#run('deleteDeltasOlderThan', undefined, () =>
      this.#exec.execute(this.#sql.deleteDeltasOlderThan, [String(olderThanTime), String(batchSize)]),
    );
  }

  async deleteDeltasBeyondNewest(keep: number, batchSize: number): Promise<number> {
    validateCount(keep, 'keep');
    validateBatchSize(batchSize);
    return this.#run('deleteDeltasBeyondNewest', undefined, () =>
      this.#exec.execute(this.#sql.deleteDeltasBeyondNewest, [String(keep), String(batchSize)]),
    );
  }

  /** Disconnects the Prisma client and ends the pool if the backend made them; a caller's `prisma` is left open. Safe to call twice. */
  /**
   * Runs a cleanup pass only while no other process runs one on this schema: a session-level
   * `pg_try_advisory_lock` on a session of its own, held for the pass; when another holds it,
   * `{ ran: false }` at once. `startCleanup` uses it, so app instances take turns. With `{ prisma }`
   * or `{ adapter }` the backend has no session of its own to hold the lock on: the pass just runs.
   */
  async withExclusiveCleanup<T>(pass: () => Promise<T>): Promise<{ ran: true; result: T } | { ran: false }> {
    const open = this.#lockSession;
    if (open === undefined) return { ran: true, result: await pass() };
    let opened: Awaited<ReturnType<typeof open>> | undefined;
    return runExclusiveCleanup(
      this.#schema,
      async () => (opened = await open()).session,
      (_session, broken) => opened?.close(broken),
      pass,
    );
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#changes?.stop();
      // The pokes of writes already made go out before the pool does.
      await this.#pokes.flush();
      try {
        await this.#ownClient?.$disconnect();
      } finally {
        await this.#ownPool?.end();
      }
    })();
    return this.#closed;
  }

  async #run<T>(method: string, contextId: string | undefined, fn: () => Promise<T>, conflict?: ConflictSubject): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const operation = contextId === undefined ? `PrismaBackend.${method}` : `PrismaBackend.${method}(${describe(contextId)})`;
      throw mapDriverError(error, operation, conflict);
    }
  }
}
