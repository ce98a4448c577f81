import type { MigrationConnection, MigrationPool } from './migrate.js';

/** The part of an `@electric-sql/pglite` `PGlite` the adapter uses. */
export interface PGliteLike {
  query<T>(query: string, params?: unknown[]): Promise<{ rows: T[] }>;
  exec(query: string): Promise<Array<{ rows: unknown[] }>>;
}

/**
 * A {@link MigrationPool} over an in-process PGlite database, so `migrate` provisions it as it
 * does a server: `migrate({ pool: pglitePool(db) })`. PGlite has a single session; the pool hands
 * out that session.
 */
export function pglitePool(db: PGliteLike): MigrationPool {
  const connection: MigrationConnection = {
    async query(text, values) {
      // PGlite's query() is one statement with parameters; exec() runs a script of several.
      if (values === undefined) {
        const results = await db.exec(text);
        return { rows: (results.at(-1)?.rows ?? []) as Record<string, unknown>[] };
      }
      return db.query<Record<string, unknown>>(text, values);
    },
    release() {},
  };
  return { connect: async () => connection };
}
