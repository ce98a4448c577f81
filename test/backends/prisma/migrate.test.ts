// migrate(): provisions an empty database, records migrations exactly as Prisma does, applies
// nothing twice, excludes a concurrent migrator (in another process), and refuses unsafe states.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import {
  DEFAULT_MIGRATIONS_DIR,
  MigrationError,
  PRISMA_MIGRATE_LOCK_KEY,
  migrate,
  pglitePool,
  type MigrateProgress,
  type MigrateTarget,
} from '../../../src/backends/prisma/index.js';
import { ensureBuilt } from '../../support/build.js';
import { serverUrl } from '../../support/database.js';
import { databaseChoice, emptyWireDatabase, noServerReason, skipNote } from '../../support/targets.js';
import { forTarget } from '../../support/named.js';

/** An empty database: a new one on the run's server, or a new schema on this file's PGlite. */
interface EmptyDatabase {
  readonly target: MigrateTarget;
  /** Extra migrate options that point at it (the schema on PGlite). */
  readonly options: { schema?: string };
  /** Runs SQL where the migrations went. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

interface Kind {
  readonly name: string;
  empty(): Promise<EmptyDatabase & { url?: string }>;
}

const runUrl = serverUrl(databaseChoice());
let pglite: Promise<PGlite> | undefined;
afterAll(async () => {
  if (pglite !== undefined) await (await pglite).close();
});

const kinds: Kind[] = [];
// On a fresh machine the `{ connectionString }` path runs too: against PGlite over its socket.
const emptyDatabase = emptyWireDatabase();
kinds.push({
  name: runUrl !== undefined ? 'postgres {connectionString}' : 'pglite-socket {connectionString}',
  async empty() {
    const db = await emptyDatabase();
    // `public` named explicitly: the default schema is `chord`, and this database's queries run in `public`.
    return { url: db.url, target: { connectionString: db.url }, options: { schema: 'public' }, query: db.query, drop: db.drop };
  },
});
kinds.push({
  name: 'pglite {pool}',
  async empty() {
    pglite ??= PGlite.create();
    const db = await pglite;
    const schema = `m_${randomBytes(5).toString('hex')}`;
    return {
      target: { pool: pglitePool(db) },
      options: { schema },
      query: async <T>(sql: string, params: unknown[] = []) => {
        await db.exec(`SET search_path TO "${schema}"`);
        return (await db.query<T>(sql, params)).rows;
      },
      drop: async () => void (await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)),
    };
  },
});

const INIT = '20261125180000_init';
const initFile = join(DEFAULT_MIGRATIONS_DIR, INIT, 'migration.sql');
/** Every shipped migration, in the order they apply. */
const ALL = readdirSync(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

function tempMigrationsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chord-migrations-'));
  cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

for (const kind of kinds) {
  describe(`migrate on ${kind.name}`, () => {
    const { test } = forTarget(kind.name);
    test('an empty database is provisioned and the migration recorded as Prisma records it', async () => {
      const db = await kind.empty();
      try {
        const events: MigrateProgress[] = [];
        const result = await migrate(db.target, { ...db.options, onProgress: (e) => events.push(e) });
        expect(ALL[0]).toBe(INIT);
        expect(result).toEqual({ applied: ALL, alreadyApplied: 0 });
        expect(events).toEqual(ALL.flatMap((migration) => [{ kind: 'applying', migration }, { kind: 'applied', migration }]));

        const tables = await db.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`,
        );
        expect(tables.map((t) => t.table_name)).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);

        // Prisma's own table, column for column.
        const columns = await db.query(
          `SELECT column_name, data_type, character_maximum_length AS length, is_nullable, column_default
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '_prisma_migrations'
            ORDER BY ordinal_position`,
        );
        expect(columns).toEqual([
          { column_name: 'id', data_type: 'character varying', length: 36, is_nullable: 'NO', column_default: null },
          { column_name: 'checksum', data_type: 'character varying', length: 64, is_nullable: 'NO', column_default: null },
          { column_name: 'finished_at', data_type: 'timestamp with time zone', length: null, is_nullable: 'YES', column_default: null },
          { column_name: 'migration_name', data_type: 'character varying', length: 255, is_nullable: 'NO', column_default: null },
          { column_name: 'logs', data_type: 'text', length: null, is_nullable: 'YES', column_default: null },
          { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', length: null, is_nullable: 'YES', column_default: null },
          { column_name: 'started_at', data_type: 'timestamp with time zone', length: null, is_nullable: 'NO', column_default: 'now()' },
          { column_name: 'applied_steps_count', data_type: 'integer', length: null, is_nullable: 'NO', column_default: '0' },
        ]);

        const rows = await db.query<Record<string, unknown>>(`SELECT * FROM "_prisma_migrations" ORDER BY migration_name`);
        expect(rows.map((r) => r.migration_name)).toEqual(ALL);
        const row = rows[0]!;
        expect(row.migration_name).toBe(INIT);
        expect(row.checksum).toBe(createHash('sha256').update(readFileSync(initFile)).digest('hex'));
        expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(row.applied_steps_count).toBe(1);
        expect(row.logs).toBeNull();
        expect(row.rolled_back_at).toBeNull();
        expect(row.finished_at).toBeInstanceOf(Date);
        expect((row.started_at as Date).getTime()).toBeLessThanOrEqual((row.finished_at as Date).getTime());
      } finally {
        await db.drop();
      }
    });

    test('a second run applies nothing and says so', async () => {
      const db = await kind.empty();
      try {
        await migrate(db.target, db.options);
        const events: MigrateProgress[] = [];
        expect(await migrate(db.target, { ...db.options, onProgress: (e) => events.push(e) })).toEqual({ applied: [], alreadyApplied: ALL.length });
        expect(events).toEqual([{ kind: 'up-to-date', appliedBefore: ALL.length }]);
        expect(await db.query(`SELECT id FROM "_prisma_migrations"`)).toHaveLength(ALL.length);
      } finally {
        await db.drop();
      }
    });

    test('a migration modified after it was applied is refused with what to do', async () => {
      const db = await kind.empty();
      const dir = tempMigrationsDir();
      try {
        await migrate(db.target, { ...db.options, migrationsDir: dir });
        appendFileSync(join(dir, INIT, 'migration.sql'), '\n-- edited after the fact\n');
        const error = await migrate(db.target, { ...db.options, migrationsDir: dir }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MigrationError);
        expect((error as MigrationError).migration).toBe(INIT);
        expect((error as Error).message).toMatch(/was modified after it was applied/);
        expect((error as Error).message).toMatch(/Restore the original file/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await db.drop();
      }
    });

    test('a failing migration is rolled back whole, not recorded, and a recorded failure is refused', async () => {
      const db = await kind.empty();
      const dir = tempMigrationsDir();
      try {
        const second = '20991231000000_broken';
        mkdirSync(join(dir, second));
        writeFileSync(join(dir, second, 'migration.sql'), 'CREATE TABLE "half_done" ("x" INTEGER);\nSELECT no_such_function();\n');
        const error = await migrate(db.target, { ...db.options, migrationsDir: dir }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MigrationError);
        expect((error as Error).message).toMatch(/20991231000000_broken failed and was rolled back/);
        // The earlier migration stays applied; nothing of the broken one remains.
        expect((await db.query<{ migration_name: string }>(`SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name`)).map((r) => r.migration_name)).toEqual(ALL);
        expect(await db.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'half_done'`)).toEqual([]);

        // What `prisma migrate deploy` leaves after a failure: started, never finished.
        await db.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
          ['00000000-0000-4000-8000-000000000000', 'x'.repeat(64), second],
        );
        const refused = await migrate(db.target, { ...db.options, migrationsDir: dir }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(MigrationError);
        expect((refused as Error).message).toMatch(/failed earlier/);
        expect((refused as Error).message).toMatch(/prisma migrate resolve --rolled-back 20991231000000_broken/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await db.drop();
      }
    });
  });
}

const noServer = noServerReason();
describe('migrate in two processes at once', () => {
    test.skipIf(noServer !== undefined)(`both wait for the lock Prisma Migrate uses, one applies, the other finds nothing to do${skipNote(noServer)}`, async () => {
      const bin = await ensureBuilt();
      const db = await kinds[0]!.empty();
      const holder = new pg.Client({ connectionString: db.url });
      await holder.connect();
      try {
        // Hold Prisma's lock (as a running `prisma migrate deploy` would) so both processes queue on it.
        await holder.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})`);
        const run = (): Promise<{ code: number | null; stdout: string; stderr: string }> =>
          new Promise((resolve, reject) => {
            const child = spawn(process.execPath, [bin, 'migrate', '--url', db.url!, '--schema', 'public'], { stdio: ['ignore', 'pipe', 'pipe'] });
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
            child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
            child.on('error', reject);
            child.on('close', (code) => resolve({ code, stdout, stderr }));
          });
        const runs = [run(), run()];
        // Release only once both are waiting on the lock, so they really run at the same time
        // (bounded: a child that died before reaching the lock fails the test, not hangs it).
        for (let attempt = 0; ; attempt++) {
          if (attempt === 600) throw new Error('after 30 s, the two migrate processes were still not both waiting on the lock');
          const [row] = await db.query<{ waiting: string }>(
            `SELECT count(*) AS waiting FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [PRISMA_MIGRATE_LOCK_KEY],
          );
          if (Number(row?.waiting) === 2) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await holder.query(`SELECT pg_advisory_unlock(${PRISMA_MIGRATE_LOCK_KEY})`);
        const results = await Promise.all(runs);

        for (const r of results) {
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toMatch(/waiting for another migration to finish/);
        }
        const outputs = results.map((r) => r.stdout);
        expect(outputs.filter((o) => o.includes(`applied ${INIT}`))).toHaveLength(1);
        expect(outputs.filter((o) => new RegExp(`nothing to apply: all ${ALL.length} migration\\(s\\) already applied`).test(o))).toHaveLength(1);
        expect(await db.query(`SELECT id FROM "_prisma_migrations"`)).toHaveLength(ALL.length);
      } finally {
        await holder.end();
        await db.drop();
      }
    });
  });
