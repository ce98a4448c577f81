import { createHash, randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ChordError, StatementError, TimeoutError, ValidationError } from '../../errors.js';
import { describe } from '../../validation.js';
import { mapDriverError, markDriverError } from './driver-errors.js';
import { createPgPool } from './sql-executor.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './prisma-backend.js';
import { quoteIdent } from './statements.js';
import { PRISMA_MIGRATE_LOCK_KEY } from './migrate-lock.js';
import { DEFAULT_SCHEMA, resolveSchema, splitSchemaParam, validateSchemaName } from './connection-schema.js';

/** Where chord-sync's tables were before they had a schema of their own. */
const LEGACY_SCHEMA = 'public';
/** chord-sync's tables, in the order they are moved out of {@link LEGACY_SCHEMA}. */
const CHORD_TABLES = ['chord_contexts', 'chord_deltas', 'chord_writes'] as const;

export { PRISMA_MIGRATE_LOCK_KEY };
/** Default longest wait for another process's migration lock: 5 minutes. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5 * 60_000;
/** The migrations shipped with chord-sync (`prisma/migrations` in the package). */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations/', import.meta.url));

/** One connection, as `pg.PoolClient` offers it. A query without `values` may hold several statements. */
export interface MigrationConnection {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  release(): void;
}

/** Where connections come from, as `pg.Pool` offers it (PGlite: see `pglitePool`). */
export interface MigrationPool {
  connect(): Promise<MigrationConnection>;
}

/** Which database to migrate: a URL (a short-lived pool is made and ended), or a pool the caller keeps. */
export type MigrateTarget =
  | { readonly connectionString: string; /** Default: 10 s. */ readonly connectTimeoutMs?: number }
  | { readonly pool: MigrationPool };

/** What `migrate` reports while it works. */
export type MigrateProgress =
  | { readonly kind: 'waiting-for-lock' }
  | { readonly kind: 'applying'; readonly migration: string }
  | { readonly kind: 'applied'; readonly migration: string }
  | { readonly kind: 'up-to-date'; readonly appliedBefore: number }
  /**
   * An install from before chord-sync had its own schema: its tables (and their migration records)
   * were found in `public` and moved to the default schema, in one transaction.
   */
  | { readonly kind: 'moved-from-public'; readonly schema: string; readonly tables: readonly string[]; readonly records: number };

export interface MigrateOptions {
  /** Called at each step (e.g. to print it). Default: silent. */
  readonly onProgress?: (progress: MigrateProgress) => void;
  /**
   * The schema to create (if missing) and migrate; it holds the tables and their migration history
   * (its own `_prisma_migrations`, never the app's). Default: the URL's `?schema=` (both given and
   * different: `ValidationError`), else {@link DEFAULT_SCHEMA} (`chord`).
   */
  readonly schema?: string;
  /**
   * Move chord-sync's tables and their migration records out of `public` into the default schema
   * (an install from before it had a schema of its own). Without it, such an install is refused
   * with a `MigrationError` saying what to check first: an app whose own `prisma/migrations` holds
   * chord-sync's migrations must delete those folders before the records leave its history.
   * Default: false.
   */
  readonly moveFromPublic?: boolean;
  /** Folder of `<name>/migration.sql` folders. Default: {@link DEFAULT_MIGRATIONS_DIR}. */
  readonly migrationsDir?: string;
  /** How long to wait for another process holding the migration lock. Default: {@link DEFAULT_LOCK_TIMEOUT_MS}. */
  readonly lockTimeoutMs?: number;
}

export interface MigrateResult {
  /** Names of the migrations this call applied, in order. */
  readonly applied: string[];
  /** How many were already applied before. */
  readonly alreadyApplied: number;
}

/** A migration that can't be applied safely; the message says what to do. */
export class MigrationError extends ChordError {
  readonly code = 'invalid_argument' as const;
  readonly migration: string;

  constructor(migration: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.migration = migration;
  }
}

/** One migration folder: its name, its script and the script's checksum. */
export interface MigrationFile {
  readonly name: string;
  readonly script: string;
  readonly checksum: string;
}

interface RecordedMigration {
  readonly migration_name: string;
  readonly checksum: string;
  readonly finished_at: unknown;
  readonly rolled_back_at: unknown;
}

// Prisma's own table, column for column (prisma-engines, sql-schema-connector, postgres flavour),
// so `prisma migrate deploy` and `prisma migrate status` read what chord-sync records.
export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

const HISTORY_COLUMNS = 'id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count';

/** Prisma's checksum: SHA-256 of the script, hex. */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

/** Like Prisma, a checksum recorded on another OS (CRLF vs LF after a git checkout) still matches. */
function checksumMatches(script: string, recorded: string): boolean {
  return (
    migrationChecksum(script) === recorded ||
    migrationChecksum(script.replaceAll('\r\n', '\n')) === recorded ||
    migrationChecksum(script.replaceAll('\r\n', '\n').replaceAll('\n', '\r\n')) === recorded
  );
}

/** The migration folders under `dir`, in name order (their timestamps), each with its script and checksum. */
export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const migrations: MigrationFile[] = [];
  for (const name of names) {
    let script: string;
    try {
      script = await readFile(join(dir, name, 'migration.sql'), 'utf8');
    } catch {
      continue; // Prisma skips folders without a migration.sql too.
    }
    migrations.push({ name, script, checksum: migrationChecksum(script) });
  }
  return migrations;
}

function isSet(value: unknown): boolean {
  return value !== null && value !== undefined;
}

/**
 * Applies chord-sync's pending migrations the way `prisma migrate deploy` does, without the Prisma
 * CLI or its schema engine: under Prisma's advisory lock, each migration in its own transaction,
 * recorded in `_prisma_migrations` (SHA-256 checksum, random UUID id, `applied_steps_count` 1).
 * A migration changed after it was applied, or one that failed earlier, is refused with
 * `MigrationError` saying what to do; an unreachable database gives `BackendUnavailableError`.
 * Two processes at once: one applies, the other waits for the lock and then finds nothing to do.
 */
export async function migrate(target: MigrateTarget, options: MigrateOptions = {}): Promise<MigrateResult> {
  if (target === null || typeof target !== 'object' || (!('connectionString' in target) && !('pool' in target))) {
    throw new ValidationError('target', `must be { connectionString } or { pool }, got ${describe(target)}`);
  }
  if (options.schema !== undefined) validateSchemaName(options.schema, 'options.schema');
  const url =
    'connectionString' in target && typeof target.connectionString === 'string'
      ? splitSchemaParam(target.connectionString, 'target.connectionString')
      : undefined;
  const schema = resolveSchema(options.schema, url?.schema, 'options.schema');
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 1) {
    throw new ValidationError('options.lockTimeoutMs', `must be an integer ≥ 1, got ${describe(lockTimeoutMs)}`);
  }
  const migrations = await readMigrations(options.migrationsDir);
  const onProgress = options.onProgress ?? (() => {});
  if (options.moveFromPublic !== undefined && typeof options.moveFromPublic !== 'boolean') {
    throw new ValidationError('options.moveFromPublic', `must be a boolean, got ${describe(options.moveFromPublic)}`);
  }

  let ownPool: pg.Pool | undefined;
  let pool: MigrationPool;
  if ('connectionString' in target) {
    // No statement or lock timeout: a migration may rightly take long; the migration lock wait has its own bound.
    ownPool = createPgPool({
      connectionString: url?.url ?? target.connectionString,
      max: 1,
      allowExitOnIdle: true,
      connectionTimeoutMillis: target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: 0,
      lockTimeoutMs: 0,
    }).pool;
    ownPool.on('error', () => {}); // an idle-client failure must not crash the process; the query fails instead
    pool = ownPool as unknown as MigrationPool;
  } else {
    pool = target.pool;
  }

  try {
    let connection: MigrationConnection;
    try {
      connection = await pool.connect();
    } catch (error) {
      markDriverError(error, { phase: 'connect' });
      throw mapDriverError(error, 'migrate');
    }
    let broken = false;
    try {
      return await migrateOn(connection, migrations, schema, lockTimeoutMs, options.moveFromPublic === true, onProgress);
    } catch (error) {
      broken = true;
      markDriverError(error, { phase: 'driver' });
      throw error instanceof ChordError ? error : mapDriverError(error, 'migrate');
    } finally {
      // A session that failed midway may still hold the lock or a search_path: don't pool it again.
      (connection.release as (destroy?: boolean) => void)(broken);
    }
  } finally {
    await ownPool?.end();
  }
}

async function migrateOn(
  db: MigrationConnection,
  migrations: MigrationFile[],
  schema: string,
  lockTimeoutMs: number,
  moveAllowed: boolean,
  onProgress: (progress: MigrateProgress) => void,
): Promise<MigrateResult> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  await db.query(`SELECT set_config('search_path', $1, false)`, [quoteIdent(schema)]);
  const [first] = (await db.query(`SELECT pg_try_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY}) AS locked`)).rows;
  if (first?.locked !== true) {
    onProgress({ kind: 'waiting-for-lock' });
    // lock_timeout bounds advisory-lock waits too; 55P03 below is that timeout.
    await db.query(`SELECT set_config('lock_timeout', $1, false)`, [`${lockTimeoutMs}ms`]);
    try {
      await db.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})`);
    } catch (error) {
      if ((error as { code?: unknown }).code === '55P03') {
        throw new TimeoutError(
          'lock',
          lockTimeoutMs,
          `migrate: another process has held the migration lock (pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY}), also taken by prisma migrate) for over ${lockTimeoutMs} ms; wait for it to finish, or find it in pg_locks`,
          { cause: error },
        );
      }
      throw error;
    }
    await db.query(`SELECT set_config('lock_timeout', '0', false)`);
  }
  try {
    if (schema === DEFAULT_SCHEMA) await moveFromPublic(db, migrations, schema, moveAllowed, onProgress);
    await db.query(CREATE_MIGRATIONS_TABLE);
    const recorded = (
      await db.query(`SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`)
    ).rows as unknown as RecordedMigration[];

    const applied = new Set<string>();
    for (const row of recorded) {
      if (isSet(row.rolled_back_at)) continue;
      const local = migrations.find((m) => m.name === row.migration_name);
      // Only chord-sync's own migrations count, should this history be shared (schema public).
      if (local === undefined) continue;
      if (!isSet(row.finished_at)) {
        throw new MigrationError(
          row.migration_name,
          `migration ${row.migration_name} failed earlier and is recorded as started but not finished. ` +
            `Check the database by hand, then mark it with \`npx prisma migrate resolve --rolled-back ${row.migration_name}\` ` +
            `(to apply it again) or \`--applied\` (if you completed it yourself), and run migrate again.`,
        );
      }
      if (!checksumMatches(local.script, row.checksum)) {
        throw new MigrationError(
          row.migration_name,
          `migration ${row.migration_name} was modified after it was applied: the checksum of its migration.sql ` +
            `(${local.checksum}) is not the one recorded in _prisma_migrations (${row.checksum}). ` +
            `Restore the original file; to change the schema, add a new migration instead of editing an applied one.`,
        );
      }
      applied.add(row.migration_name);
    }

    const pending = migrations.filter((m) => !applied.has(m.name));
    if (applied.size === 0 && pending.length > 0 && (await chordTablesIn(db, schema)).length > 0) {
      throw unrecordedTables(schema, migrations);
    }
    if (pending.length === 0) {
      onProgress({ kind: 'up-to-date', appliedBefore: applied.size });
      return { applied: [], alreadyApplied: applied.size };
    }
    const done: string[] = [];
    for (const migration of pending) {
      onProgress({ kind: 'applying', migration: migration.name });
      const startedAt = new Date().toISOString();
      await db.query('BEGIN');
      try {
        // Without parameters the script goes as one simple query, so it may hold many statements.
        await db.query(migration.script);
        await db.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) ` +
            `VALUES ($1, $2, now(), $3, NULL, NULL, $4::timestamptz, 1)`,
          [randomUUID(), migration.checksum, migration.name, startedAt],
        );
        await db.query('COMMIT');
      } catch (error) {
        await db.query('ROLLBACK').catch(() => {});
        markDriverError(error, { phase: 'driver' });
        const mapped = mapDriverError(error, `migrate ${migration.name}`);
        if (mapped instanceof StatementError) {
          // Rolled back whole, so nothing is recorded and a fixed migration can simply run again.
          throw new MigrationError(
            migration.name,
            `migration ${migration.name} failed and was rolled back (nothing of it was applied): ${(error as Error).message}`,
            { cause: error },
          );
        }
        throw mapped;
      }
      done.push(migration.name);
      onProgress({ kind: 'applied', migration: migration.name });
    }
    return { applied: done, alreadyApplied: applied.size };
  } finally {
    await db.query(`SELECT pg_advisory_unlock(${PRISMA_MIGRATE_LOCK_KEY})`).catch(() => {});
    // The connection may go back to the caller's pool: leave its session as it was.
    await db.query('RESET search_path').catch(() => {});
  }
}

/** Which of chord-sync's tables exist in `schema`. */
async function chordTablesIn(db: MigrationConnection, schema: string): Promise<string[]> {
  const rows = (
    await db.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name = ANY($2::text[]) ORDER BY table_name`, [
      schema,
      [...CHORD_TABLES],
    ])
  ).rows as Array<{ table_name: string }>;
  return rows.map((row) => row.table_name);
}

/**
 * Tables without a record of the migrations that made them: applying the first migration again
 * would fail on them ("already exists") every time, so nothing is done and the way out is said.
 */
function unrecordedTables(schema: string, migrations: readonly MigrationFile[]): MigrationError {
  const first = migrations[0]?.name ?? '(none)';
  return new MigrationError(
    first,
    `chord-sync's tables exist in schema ${schema} but no migration record says which of chord-sync's migrations made them, ` +
      `so none can be applied safely; nothing was changed. If they hold nothing you need, drop them ` +
      `(DROP TABLE IF EXISTS ${[...CHORD_TABLES].reverse().map((table) => `${quoteIdent(schema)}.${table}`).join(', ')}) and run migrate again. ` +
      `Otherwise record the migrations they already have (at least ${first}) with \`npx prisma migrate resolve --applied <name>\` ` +
      `on the URL with ?schema=${schema} (README: provisioning), then run migrate again.`,
  );
}

/**
 * An install from before chord-sync had a schema of its own keeps its tables, and their records in
 * the app's `_prisma_migrations`, in `public`. When `schema` has no chord tables yet and `public`
 * has them, they move (`ALTER TABLE … SET SCHEMA`: data, indexes and keys unchanged, no copy) with
 * chord-sync's migration records, in one transaction; the app's own records stay where they are.
 * Only when asked (`moveAllowed`): the records leave the app's history, so an app whose own
 * migrations folder holds chord-sync's migrations must delete them first, or its next `prisma
 * migrate dev` applies them again into `public`. Tables in `public` with no records are refused
 * (nothing says which migrations made them).
 */
async function moveFromPublic(
  db: MigrationConnection,
  migrations: readonly MigrationFile[],
  schema: string,
  moveAllowed: boolean,
  onProgress: (progress: MigrateProgress) => void,
): Promise<void> {
  const [found] = (
    await db.query(
      `SELECT to_regclass(format('%I.%I', $1::text, 'chord_contexts')) IS NOT NULL AS in_schema,
              to_regclass(format('%I.%I', $2::text, 'chord_contexts')) IS NOT NULL AS in_public,
              to_regclass(format('%I.%I', $2::text, '_prisma_migrations')) IS NOT NULL AS history_in_public`,
      [schema, LEGACY_SCHEMA],
    )
  ).rows;
  if (found?.in_schema === true || found?.in_public !== true) return;
  // Every one of chord-sync's tables that public holds moves (an install from before a table existed has fewer).
  const tables = await chordTablesIn(db, LEGACY_SCHEMA);
  const names = migrations.map((m) => m.name);
  const inHistory =
    found.history_in_public === true
      ? ((await db.query(`SELECT migration_name FROM ${quoteIdent(LEGACY_SCHEMA)}."_prisma_migrations" WHERE migration_name = ANY($1::text[]) ORDER BY migration_name`, [names]))
          .rows as Array<{ migration_name: string }>).map((row) => row.migration_name)
      : [];
  if (inHistory.length === 0) throw unrecordedTables(LEGACY_SCHEMA, migrations);
  if (!moveAllowed) {
    throw new MigrationError(
      inHistory[0] as string,
      `chord-sync's tables are in schema public, with ${inHistory.length} migration record(s) in public._prisma_migrations ` +
        `(${inHistory.join(', ')}), the history your app's Prisma migrations use; nothing was changed. ` +
        `To move them into schema ${schema}: if your app's prisma/migrations folder holds these migrations (copied there), ` +
        `delete those folders first (their records move with the tables), then run \`chord-sync migrate --move-from-public\` ` +
        `(migrate(…, { moveFromPublic: true })); an app that gave PrismaBackend schema: 'public' must then drop that option. ` +
        `To keep them in public instead, pass --schema public (schema: 'public') everywhere.`,
    );
  }
  await db.query('BEGIN');
  try {
    for (const table of tables) await db.query(`ALTER TABLE ${quoteIdent(LEGACY_SCHEMA)}.${quoteIdent(table)} SET SCHEMA ${quoteIdent(schema)}`);
    await db.query(CREATE_MIGRATIONS_TABLE);
    let records = 0;
    if (found.history_in_public === true) {
      const history = `${quoteIdent(LEGACY_SCHEMA)}."_prisma_migrations"`;
      const moved = await db.query(
        `WITH moved AS (DELETE FROM ${history} WHERE migration_name = ANY($1::text[]) RETURNING *)
         INSERT INTO "_prisma_migrations" (${HISTORY_COLUMNS}) SELECT ${HISTORY_COLUMNS} FROM moved RETURNING id`,
        [names],
      );
      records = moved.rows.length;
    }
    await db.query('COMMIT');
    onProgress({ kind: 'moved-from-public', schema, tables, records });
  } catch (error) {
    await db.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** What {@link migrationScript} renders. */
export interface MigrationScriptOptions {
  /** As {@link MigrateOptions.schema}. Default: {@link DEFAULT_SCHEMA}. */
  readonly schema?: string;
  /** As {@link MigrateOptions.migrationsDir}. */
  readonly migrationsDir?: string;
}

/**
 * The SQL of chord-sync's migrations as one script for a DBA to read or run (`psql -f`): the schema,
 * its migration history table, and each migration in its own transaction, recorded as `migrate`
 * records it. Each is guarded by its record, so running the script again, or on a database where
 * some are applied, applies only the missing ones. It does not take the migration lock and does not
 * move an install out of `public` (run `migrate` for that).
 */
export async function migrationScript(options: MigrationScriptOptions = {}): Promise<string> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  validateSchemaName(schema, 'options.schema');
  const migrations = await readMigrations(options.migrationsDir);
  const literal = (text: string): string => `'${text.replaceAll("'", "''")}'`;
  const lines = [
    `-- chord-sync migrations for schema ${quoteIdent(schema)} (${migrations.length}): apply with psql -v ON_ERROR_STOP=1 -f <this file>`,
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};`,
    `SET search_path TO ${quoteIdent(schema)};`,
    `${CREATE_MIGRATIONS_TABLE};`,
  ];
  for (const migration of migrations) {
    let tag = 'chord_migration';
    while (migration.script.includes(`$${tag}$`)) tag += '_';
    lines.push(
      '',
      `-- ${migration.name}`,
      'BEGIN;',
      `DO $chord$ BEGIN`,
      `  IF NOT EXISTS (SELECT 1 FROM "_prisma_migrations" WHERE migration_name = ${literal(migration.name)} AND finished_at IS NOT NULL AND rolled_back_at IS NULL) THEN`,
      `    EXECUTE $${tag}$`,
      migration.script.trimEnd(),
      `$${tag}$;`,
      `    INSERT INTO "_prisma_migrations" (${HISTORY_COLUMNS})`,
      `      VALUES (gen_random_uuid()::text, ${literal(migration.checksum)}, now(), ${literal(migration.name)}, NULL, NULL, now(), 1);`,
      '  END IF;',
      'END $chord$;',
      'COMMIT;',
    );
  }
  // The session's search_path back as it was: a tool that runs this script on a connection it goes
  // on using (Prisma's initShadowDb, then the app's own migrations) must not find it changed.
  lines.push('', 'RESET search_path;');
  return `${lines.join('\n')}\n`;
}
