import pg from 'pg';
import type {
  AtomicRestorer,
  AtomicVersionWriter,
  BackendClockConfig,
  BulkCleanup,
  ChordBackend,
  DeltaCount,
  IdleContextsDeleted,
  ListOptions,
  SyncRead,
  SyncReader,
  VersionWriteResult,
} from '../../backend.js';
import { ValidationError, VersionConflictError } from '../../errors.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from '../../types.js';
import {
  type JsonLimits,
  deltaLimits,
  describe,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateContextId,
  validateCount,
  validateListOptions,
  validateTimestamp,
  validateVersion,
} from '../../validation.js';
import { type ConflictSubject, mapDriverError } from './driver-errors.js';
import { PrismaClient } from './generated/client.js';
import { toContextRecord, toDeltaCount, toDeltaRecord, toNumber, toSyncRead, type ContextRow, type CountRow, type DeltaRow, type SyncRow } from './rows.js';
import { PgSqlExecutor, type PrismaRawClient, PrismaSqlExecutor, type SqlExecutor } from './sql-executor.js';
import { ChordStatements } from './statements.js';

/** Default PostgreSQL schema of chord-sync's tables. */
export const DEFAULT_SCHEMA = 'public';
/** Default time to wait for a new connection before `BackendUnavailableError`: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default number of connections in the pool the backend creates for `{ connectionString }`. */
export const DEFAULT_POOL_SIZE = 10;

/** A Prisma driver adapter factory, e.g. `new PrismaPg(…)` or PGlite's `new PrismaPGlite(db)`. */
export type PrismaDriverAdapter = NonNullable<NonNullable<ConstructorParameters<typeof PrismaClient>[0]>['adapter']>;

/** Options every form of {@link PrismaBackendConfig} accepts. */
export interface PrismaBackendCommonConfig extends BackendClockConfig {
  /** Bounds on contexts and deltas; larger or deeper values are refused with `ValidationError`. Default: 100 levels, 16 MiB. */
  readonly limits?: JsonLimits;
  /** The PostgreSQL schema holding `chord_contexts` and `chord_deltas`. Default: {@link DEFAULT_SCHEMA}. */
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
   * Called when an idle pooled connection fails (e.g. the server restarted). The pool drops it and
   * connects anew on the next call either way. Default: ignore.
   */
  readonly onPoolError?: (error: Error) => void;
}

/** A Prisma client the caller made and keeps: the backend uses only its raw-SQL methods and never disconnects it. */
export interface PrismaBackendClientConfig extends PrismaBackendCommonConfig {
  readonly prisma: PrismaRawClient;
}

/** Any Prisma driver adapter; the backend makes a client over it and disconnects that client in `close()`. */
export interface PrismaBackendAdapterConfig extends PrismaBackendCommonConfig {
  readonly adapter: PrismaDriverAdapter;
}

/**
 * How {@link PrismaBackend} reaches PostgreSQL: exactly one of `connectionString`, `prisma` or
 * `adapter`. The connect timeout and pool size apply to the `connectionString` form; with
 * `prisma` or `adapter` the caller's driver settings govern them.
 */
export type PrismaBackendConfig = PrismaBackendConnectionConfig | PrismaBackendClientConfig | PrismaBackendAdapterConfig;

/** The PostgreSQL identifier length limit (NAMEDATALEN - 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63;

function validateConfig(config: unknown): asserts config is PrismaBackendConfig {
  if (config === null || typeof config !== 'object') {
    throw new ValidationError('config', `must be an object with connectionString, prisma or adapter, got ${describe(config)}`);
  }
  const c = config as Record<string, unknown>;
  const forms = ['connectionString', 'prisma', 'adapter'].filter((key) => c[key] !== undefined);
  if (forms.length !== 1) {
    throw new ValidationError('config', `must have exactly one of connectionString, prisma or adapter, got ${forms.length === 0 ? 'none' : forms.join(' and ')}`);
  }
  if (c.connectionString !== undefined && (typeof c.connectionString !== 'string' || c.connectionString === '')) {
    throw new ValidationError('config.connectionString', `must be a non-empty string, got ${describe(c.connectionString)}`);
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
  if (c.schema !== undefined) {
    if (typeof c.schema !== 'string' || c.schema === '' || c.schema.includes('\u0000') || Buffer.byteLength(c.schema) > MAX_IDENTIFIER_BYTES) {
      throw new ValidationError('config.schema', `must be a PostgreSQL schema name (1 to ${MAX_IDENTIFIER_BYTES} bytes), got ${describe(c.schema)}`);
    }
  }
  for (const key of ['connectTimeoutMs', 'poolSize']) {
    const value = c[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)) {
      throw new ValidationError(`config.${key}`, `must be an integer ≥ 1, got ${describe(value)}`);
    }
  }
  if (c.onPoolError !== undefined && typeof c.onPoolError !== 'function') {
    throw new ValidationError('config.onPoolError', `must be a function, got ${describe(c.onPoolError)}`);
  }
}

function validateBatchSize(value: unknown): asserts value is number {
  // 0 would make the engine's "until fewer than batchSize" loop never end.
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError('batchSize', `must be an integer ≥ 1, got ${describe(value)}`);
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
export class PrismaBackend implements ChordBackend, AtomicVersionWriter, AtomicRestorer, BulkCleanup, SyncReader {
  readonly #clock: () => number;
  readonly #limits: Required<JsonLimits>;
  readonly #sql: ChordStatements;
  readonly #exec: SqlExecutor;
  /** The client the backend made (and so must disconnect); undefined for `{ prisma }`. */
  readonly #ownClient: { $disconnect(): Promise<void> } | undefined;
  /** The pool the backend made (and so must end); only for `{ connectionString }`. */
  readonly #ownPool: pg.Pool | undefined;
  #closed: Promise<void> | undefined;

  /** Validates `config` (throws `ValidationError` naming the field); connects lazily, on the first call. */
  constructor(config: PrismaBackendConfig) {
    validateConfig(config);
    this.#clock = config.clock ?? Date.now;
    this.#limits = resolveLimits(config.limits);
    const schema = config.schema ?? DEFAULT_SCHEMA;
    this.#sql = new ChordStatements(schema);

    if ('connectionString' in config && config.connectionString !== undefined) {
      const onPoolError = config.onPoolError ?? (() => {});
      const pool = new pg.Pool({
        connectionString: config.connectionString,
        max: config.poolSize ?? DEFAULT_POOL_SIZE,
        connectionTimeoutMillis: config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        keepAlive: true,
      });
      // An idle client whose server went away emits 'error' on the pool; with no listener Node
      // would crash the process. The pool discards that client by itself.
      pool.on('error', onPoolError);
      this.#ownPool = pool;
      this.#ownClient = undefined;
      // The backend owns this pool, so its statements go to it directly as prepared statements:
      // Prisma's raw-query path costs 1.4–3.9× per call (docs/benchmarks.md, "via Prisma").
      this.#exec = new PgSqlExecutor(pool);
    } else if ('adapter' in config && config.adapter !== undefined) {
      const client = new PrismaClient({ adapter: config.adapter });
      this.#ownPool = undefined;
      this.#ownClient = client;
      this.#exec = new PrismaSqlExecutor(client);
    } else {
      const { prisma } = config as PrismaBackendClientConfig;
      this.#ownPool = undefined;
      this.#ownClient = undefined;
      this.#exec = new PrismaSqlExecutor(prisma);
    }
  }

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    const now = readClock(this.#clock);
    await this.#run('setContext', contextId, () =>
      this.#exec.execute(this.#sql.setContext, [contextId, text, String(version), String(now)]),
    );
    return { contextId, context: JSON.parse(text) as JsonObject, version, insertedAt: now };
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

  async readForSync(contextId: string, clientVersion: number, maxBehind: number): Promise<SyncRead | null> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    validateCount(maxBehind, 'maxBehind');
    const rows = await this.#run('readForSync', contextId, () =>
      this.#exec.query<SyncRow>(this.#sql.readForSync, [contextId, String(clientVersion), String(maxBehind)]),
    );
    const row = rows[0];
    return row === undefined ? null : toSyncRead(row);
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
    const sql = expectedVersion === 0 ? this.#sql.writeVersionInsert : this.#sql.writeVersionUpdate;
    const rows = await this.#run(
      'writeVersion',
      contextId,
      () => this.#exec.query<{ written: unknown; current: unknown }>(sql, [contextId, contextText, deltaText, String(expectedVersion), String(now)]),
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
    return {
      context: { contextId, context: JSON.parse(contextText) as JsonObject, version, insertedAt: now },
      delta: { contextId, delta: JSON.parse(deltaText) as Delta, version, insertedAt: now },
    };
  }

  /**
   * Stores `context` at `version` and deletes the context's deltas in one statement, only if no
   * context is stored at `version` or above; otherwise writes nothing and throws `VersionConflictError`.
   */
  async restoreVersion(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    const now = readClock(this.#clock);
    const rows = await this.#run('restoreVersion', contextId, () =>
      this.#exec.query<{ written: unknown; current: unknown }>(this.#sql.restoreVersion, [contextId, text, String(version), String(now)]),
    );
    const row = rows[0];
    if (row === undefined || row.written === null || row.written === undefined) {
      // The statement's snapshot may predate the write that won; then "current" is not it.
      const current = row?.current === null || row?.current === undefined ? undefined : toNumber(row.current);
      throw new VersionConflictError(contextId, version, current !== undefined && current >= version ? current : undefined);
    }
    return { contextId, context: JSON.parse(text) as JsonObject, version, insertedAt: now };
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
  close(): Promise<void> {
    this.#closed ??= (async () => {
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
