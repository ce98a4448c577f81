/**
 * Every statement PrismaBackend sends goes through one {@link SqlExecutor}, chosen in its
 * constructor: `pg` directly, with prepared statements, on the pool the backend made for
 * `{ connectionString }`; Prisma's raw queries on a client the caller gave (`{ prisma }`) or the
 * backend made over a driver adapter (`{ adapter }`).
 */

/** A row as the driver returns it: bigint columns may be `bigint`, `string` or `number`, jsonb a parsed value or text. */
export type SqlRow = Record<string, unknown>;

/** One parameter: always a string (ids, JSON text, decimal integers) or null; the SQL casts it. */
export type SqlParam = string | null;

/** The two operations the backend needs: rows back, or a count of affected rows. */
export interface SqlExecutor {
  query<T extends SqlRow>(sql: string, params: readonly SqlParam[]): Promise<T[]>;
  execute(sql: string, params: readonly SqlParam[]): Promise<number>;
}

/** The part of a Prisma client the backend uses: its two raw-SQL methods. */
export interface PrismaRawClient {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** The part of a `pg.Pool` {@link PgSqlExecutor} uses. */
export interface PgQueryPool {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: SqlRow[]; rowCount: number | null }>;
}

/** Statements through Prisma's raw API: works with any driver adapter (pg, PGlite, …). */
export class PrismaSqlExecutor implements SqlExecutor {
  readonly #client: PrismaRawClient;

  constructor(client: PrismaRawClient) {
    this.#client = client;
  }

  async query<T extends SqlRow>(sql: string, params: readonly SqlParam[]): Promise<T[]> {
    return await this.#client.$queryRawUnsafe<T[]>(sql, ...params);
  }

  async execute(sql: string, params: readonly SqlParam[]): Promise<number> {
    return await this.#client.$executeRawUnsafe(sql, ...params);
  }
}

/**
 * Statements straight to a `pg.Pool` as named prepared statements: parsed and planned once per
 * connection, then only bound and executed. Used only on a pool the backend built itself, so no
 * caller's pool ever holds statements it did not ask for.
 */
export class PgSqlExecutor implements SqlExecutor {
  readonly #pool: PgQueryPool;

  constructor(pool: PgQueryPool) {
    this.#pool = pool;
  }

  async query<T extends SqlRow>(sql: string, params: readonly SqlParam[]): Promise<T[]> {
    const result = await this.#pool.query({ name: statementName(sql), text: sql, values: params as unknown[] });
    return result.rows as T[];
  }

  async execute(sql: string, params: readonly SqlParam[]): Promise<number> {
    const result = await this.#pool.query({ name: statementName(sql), text: sql, values: params as unknown[] });
    return result.rowCount ?? 0;
  }
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
