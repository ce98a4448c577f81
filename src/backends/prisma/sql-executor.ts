/**
 * Every statement PrismaBackend sends goes through one {@link SqlExecutor}, chosen in its
 * constructor: `pg` directly, with prepared statements, on the pool the backend made for
 * `{ connectionString }`; Prisma's raw queries on a client the caller gave (`{ prisma }`) or the
 * backend made over a driver adapter (`{ adapter }`).
 */

import pg from 'pg';
import { markDriverError } from './driver-errors.js';

/** A row as the driver returns it: bigint columns may be `bigint`, `string` or `number`, jsonb a parsed value or text. */
export type SqlRow = Record<string, unknown>;

/** One parameter: always a string (ids, JSON text, decimal integers) or null; the SQL casts it. */
export type SqlParam = string | null;

/** The two operations the backend needs: rows back, or a count of affected rows. */
export interface SqlExecutor {
  query<T extends SqlRow>(sql: string, params: readonly SqlParam[]): Promise<T[]>;
  execute(sql: string, params: readonly SqlParam[]): Promise<number>;
  /**
   * Whether every statement runs inside a transaction of the caller's (a Prisma interactive
   * transaction client): what is sent after a statement may find that transaction closed.
   */
  readonly inCallerTransaction?: boolean;
}

/** The part of a Prisma client the backend uses: its two raw-SQL methods. */
export interface PrismaRawClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** A statement as `pg` takes it: named (prepared), its text and its values. */
export interface PgQueryConfig {
  name?: string;
  text: string;
  values?: unknown[];
}

/** A result as `pg` gives it. */
export interface PgQueryResult {
  rows: SqlRow[];
  rowCount: number | null;
}

/** One checked-out connection, as `pg.PoolClient` offers it. */
export interface PgPooledConnection {
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  /** Back to the pool; with an error, the pool closes the connection instead. */
  release(error?: Error | boolean): void;
  /** pg's `Client` is an EventEmitter: an 'error' with no listener would crash the process. */
  on?(event: 'error', listener: (error: Error) => void): unknown;
  off?(event: 'error', listener: (error: Error) => void): unknown;
}

/** Swallows a checked-out connection's 'error' event: the statement's own promise reports the failure. */
const ignoreConnectionError = (): void => undefined;

/**
 * The part of a `pg.Pool` {@link PgSqlExecutor} uses. With `connect` (every `pg.Pool`) it checks
 * out a connection per statement, so it knows whether a failure came from waiting for a
 * connection, opening one, or the statement; `totalCount`, `idleCount`, `ending` and `options`
 * tell a full pool from a database that does not answer.
 */
export interface PgQueryPool {
  query(config: PgQueryConfig): Promise<PgQueryResult>;
  connect?(): Promise<PgPooledConnection>;
  readonly totalCount?: number;
  readonly idleCount?: number;
  readonly ending?: boolean;
  readonly options?: { readonly max?: number | undefined; readonly connectionTimeoutMillis?: number | undefined };
}

/** Statements through Prisma's raw API: works with any driver adapter (pg, PGlite, …). */
export class PrismaSqlExecutor implements SqlExecutor {
  readonly #client: PrismaRawClient;
  readonly inCallerTransaction: boolean;

  constructor(client: PrismaRawClient) {
    this.#client = client;
    // Prisma's interactive transaction client (`$transaction(async (tx) => …)`) is the client
    // without `$connect`/`$disconnect` (its deny list); a full client has both. A structural
    // client without them is taken as one too: the only cost is a notice sent per write.
    this.inCallerTransaction = typeof (client as { $connect?: unknown }).$connect !== 'function';
  }

  async query<T extends SqlRow>(sql: string, params: readonly SqlParam[]): Promise<T[]> {
    try {
      return await this.#client.$queryRawUnsafe<T[]>(sql, ...params);
    } catch (error) {
      markDriverError(error, { phase: 'driver' });
      throw error;
    }
  }

  async execute(sql: string, params: readonly SqlParam[]): Promise<number> {
    try {
      return await this.#client.$executeRawUnsafe(sql, ...params);
    } catch (error) {
      markDriverError(error, { phase: 'driver' });
      throw error;
    }
  }
}

/**
 * Statements straight to a `pg.Pool` as named prepared statements: parsed and planned once per
 * connection, then only bound and executed. Used on the pool the backend built for
 * `{ connectionString }`, and on an app's own `{ pool }`, whose connections then also hold these
 * statements (named `chord_sync_<n>`, so they cannot clash with the app's; a pooler in
 * transaction mode that cannot keep prepared statements needs the `{ prisma }` form instead).
 */
export class PgSqlExecutor implements SqlExecutor {
  readonly #pool: PgQueryPool;
  readonly #settings: PgSqlExecutorSettings;

  constructor(pool: PgQueryPool, settings: PgSqlExecutorSettings = {}) {
    this.#pool = pool;
    this.#settings = settings;
  }

  async query<T extends SqlRow>(sql: string, params: readonly SqlParam[]): Promise<T[]> {
    return (await this.#send(sql, params)).rows as T[];
  }

  async execute(sql: string, params: readonly SqlParam[]): Promise<number> {
    return (await this.#send(sql, params)).rowCount ?? 0;
  }

  async #send(sql: string, params: readonly SqlParam[]): Promise<PgQueryResult> {
    const pool = this.#pool;
    const statement = { name: statementName(sql), text: sql, values: params as unknown[] };
    if (pool.connect === undefined) {
      try {
        return await pool.query(statement);
      } catch (error) {
        markDriverError(error, { phase: 'driver' });
        throw error;
      }
    }
    const waitLimit = pool.options?.connectionTimeoutMillis;
    // pg-pool queues the request when every connection it may open is open; only a queued request
    // can end in its wait timeout.
    const queued = (pool.totalCount ?? 0) >= (pool.options?.max ?? Number.POSITIVE_INFINITY) && (pool.idleCount ?? 0) === 0;
    const asked = performance.now();
    let connection: PgPooledConnection;
    try {
      connection = await pool.connect();
    } catch (error) {
      const waitedMs = performance.now() - asked;
      if (pool.ending === true) {
        markDriverError(error, { phase: 'pool-closed' });
      } else if (queued && waitLimit !== undefined && waitLimit > 0 && waitedMs >= waitLimit - 1) {
        // The queue timer starts when the request does, so it fires before any connection opened
        // for this request could time out: this is the wait for a free connection.
        const busy = (pool.totalCount ?? 0) - (pool.idleCount ?? 0);
        markDriverError(error, { phase: 'pool-wait', busy, connecting: this.#settings.connecting?.() ?? 0, waitedMs: waitLimit });
      } else {
        markDriverError(error, { phase: 'connect' });
      }
      throw error;
    }
    const started = performance.now();
    // The pool listens for errors only on idle connections. A server that ends the session while
    // this one is checked out (a restart, pg_terminate_backend) makes pg emit 'error' on it too,
    // which without a listener is an uncaught exception that kills the process.
    connection.on?.('error', ignoreConnectionError);
    try {
      const result = await connection.query(statement);
      connection.off?.('error', ignoreConnectionError);
      connection.release();
      return result;
    } catch (error) {
      markDriverError(error, {
        phase: 'statement',
        elapsedMs: performance.now() - started,
        statementTimeoutMs: this.#settings.statementTimeoutMs,
        lockTimeoutMs: this.#settings.lockTimeoutMs,
      });
      // As pg's own pool.query does: a connection that failed a statement is closed, not reused,
      // since a FATAL error (a terminated backend) carries a SQLSTATE just like a harmless one.
      // The listener stays: a closed connection may still report its end.
      connection.release(error instanceof Error ? error : true);
      throw error;
    }
  }
}

/** What {@link PgSqlExecutor} knows of the connections it is given, to name failures. */
export interface PgSqlExecutorSettings {
  /** The statement_timeout the pool's connections have, in ms (0: none). */
  readonly statementTimeoutMs?: number;
  /** The lock_timeout the pool's connections have, in ms (0: none). */
  readonly lockTimeoutMs?: number;
  /** How many of the pool's connections are being opened right now (see {@link createPgPool}). */
  readonly connecting?: () => number;
}

/** Options of {@link createPgPool}: pg's pool options, plus the session timeouts in ms (0 or absent: none). */
export interface PgPoolSettings {
  readonly connectionString: string;
  readonly max: number;
  readonly connectionTimeoutMillis: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly allowExitOnIdle?: boolean;
}

/**
 * A `pg.Pool` whose connections carry statement_timeout and lock_timeout from their first
 * statement (startup parameters: no extra round trip), and which knows two things pg does not
 * say in a code: how many connections are still being opened (so a timed-out wait is told apart
 * from a full pool), and that the server asked for a password when none was given.
 */
export function createPgPool(settings: PgPoolSettings): { pool: pg.Pool; connecting: () => number } {
  let connecting = 0;
  class ChordPgClient extends pg.Client {
    #askedForPassword = false;

    constructor(config: pg.ClientConfig) {
      super(config);
      const asked = (): void => {
        this.#askedForPassword = true;
      };
      for (const request of ['authenticationCleartextPassword', 'authenticationMD5Password', 'authenticationSASL']) {
        this.connection.once(request, asked);
      }
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | void {
      if (callback === undefined) return super.connect();
      connecting++;
      let settled = false;
      super.connect((error: Error | null, ...rest: unknown[]) => {
        if (!settled) {
          settled = true;
          connecting--;
        }
        if (error) {
          const password = (this as unknown as { password?: unknown }).password;
          if (this.#askedForPassword && (typeof password !== 'string' || password === '')) {
            markDriverError(error, { phase: 'connect', passwordMissing: true });
          }
        }
        (callback as (err: Error | null, ...rest: unknown[]) => void)(error, ...rest);
      });
    }
  }
  const pool = new pg.Pool({
    connectionString: settings.connectionString,
    max: settings.max,
    connectionTimeoutMillis: settings.connectionTimeoutMillis,
    keepAlive: true,
    ...(settings.allowExitOnIdle === undefined ? {} : { allowExitOnIdle: settings.allowExitOnIdle }),
    ...(settings.statementTimeoutMs > 0 ? { statement_timeout: settings.statementTimeoutMs } : {}),
    ...(settings.lockTimeoutMs > 0 ? { lock_timeout: settings.lockTimeoutMs } : {}),
    // @types/pg declares Client as taking no arguments; pg-pool passes it the pool's options.
    Client: ChordPgClient as unknown as NonNullable<pg.PoolConfig['Client']>,
  });
  return { pool, connecting: () => connecting };
}

// pg caches prepared statements per connection by name and refuses one name for two texts, so the
// name is derived from the text alone: the same SQL (same schema) shares a name, any other gets its own.
const statementNames = new Map<string, string>();

/** A stable prepared-statement name for `sql`, unique per distinct text in this process. */
export function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `chord_sync_${statementNames.size + 1}`;
    statementNames.set(sql, name);
  }
  return name;
}
