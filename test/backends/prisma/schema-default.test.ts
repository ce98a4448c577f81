// chord-sync keeps its tables and its migration history in a PostgreSQL schema of its own,
// `chord`, by default: for migrate(), the CLI and every PrismaBackend form. An app's `public` and
// its `_prisma_migrations` see nothing of it; `?schema=` in a URL is honoured; an install from
// before (tables in public) is refused with what to check, then moved when asked; tables without
// migration records are refused, never half-migrated; `migrate --print` gives the SQL.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import {
  DEFAULT_SCHEMA,
  PrismaBackend,
  migrate,
  migrationScript,
  readMigrations,
  type MigrateProgress,
} from '../../../src/backends/prisma/index.js';
import { main } from '../../../src/cli/main.js';
import { MigrationError } from '../../../src/backends/prisma/migrate.js';
import { ValidationError } from '../../../src/errors.js';
import { recordingIo } from '../../cli/io.js';
import { emptyWireDatabase } from '../../support/targets.js';

const emptyDatabase = emptyWireDatabase();

/** Runs `fn` with one connection to `url` (PGlite's socket serves one client at a time: closed after). */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function tablesIn(url: string, schema: string): Promise<string[]> {
  return withClient(url, async (c) =>
    (
      await c.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema])
    ).rows.map((r) => r.t),
  );
}

async function recordedIn(url: string, schema: string): Promise<string[]> {
  return withClient(url, async (c) =>
    (await c.query<{ n: string }>(`SELECT migration_name AS n FROM ${pg.escapeIdentifier(schema)}."_prisma_migrations" ORDER BY 1`)).rows.map(
      (r) => r.n,
    ),
  );
}

const chordMigrations = (await readMigrations()).map((m) => m.name);

// Each test makes a database and several connections one after another; on PGlite's socket, on a
// busy machine, the first (which starts PGlite) can take over a minute.
describe('the chord schema by default', { timeout: 240_000 }, () => {
  test('migrate() provisions the tables and their history in chord, and leaves public untouched', async () => {
    const db = await emptyDatabase();
    try {
      expect(DEFAULT_SCHEMA).toBe('chord');
      const result = await migrate({ connectionString: db.url });
      expect(result).toEqual({ applied: chordMigrations, alreadyApplied: 0 });
      expect(await tablesIn(db.url, 'chord')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
      expect(await tablesIn(db.url, 'public')).toEqual([]);
      expect(await recordedIn(db.url, 'chord')).toEqual(chordMigrations);
    } finally {
      await db.drop();
    }
  });

  test('the CLI migrates into chord, and every PrismaBackend form reads and writes there', async () => {
    const db = await emptyDatabase();
    try {
      const io = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['migrate'], io), io.stderr).toBe(0);
      expect(await tablesIn(db.url, 'chord')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);

      const own = new PrismaBackend({ connectionString: db.url, poolSize: 1 });
      await own.setContext('via-connection-string', { n: 1 }, 1);
      await own.close();

      const pool = new pg.Pool({ connectionString: db.url, max: 1 });
      const pooled = new PrismaBackend({ pool });
      await pooled.setContext('via-pool', { n: 1 }, 1);
      await pooled.close();
      // The app's pool is the app's: close() left it open.
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await pool.end();

      const adapted = new PrismaBackend({ adapter: new PrismaPg({ connectionString: db.url, max: 1 }) });
      await adapted.setContext('via-adapter', { n: 1 }, 1);
      await adapted.close();

      const ids = await withClient(db.url, async (c) => (await c.query<{ id: string }>('SELECT context_id AS id FROM chord.chord_contexts ORDER BY 1')).rows);
      expect(ids.map((r) => r.id)).toEqual(['via-adapter', 'via-connection-string', 'via-pool']);
      expect(await tablesIn(db.url, 'public')).toEqual([]);
    } finally {
      await db.drop();
    }
  });

  test('?schema= in the URL is honoured by migrate() and PrismaBackend; a different schema option beside it is refused', async () => {
    const db = await emptyDatabase();
    try {
      const url = new URL(db.url);
      url.searchParams.set('schema', 'from_url');
      await migrate({ connectionString: url.toString() });
      expect(await tablesIn(db.url, 'from_url')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
      expect(await tablesIn(db.url, 'chord')).toEqual([]);
      const backend = new PrismaBackend({ connectionString: url.toString(), poolSize: 1 });
      await backend.setContext('a', { n: 1 }, 1);
      await backend.close();
      expect(await withClient(db.url, async (c) => (await c.query('SELECT context_id FROM from_url.chord_contexts')).rows)).toEqual([
        { context_id: 'a' },
      ]);
      // The same schema twice is fine; two different ones is a mistake to say, not to guess at.
      expect(() => new PrismaBackend({ connectionString: url.toString(), schema: 'from_url' })).not.toThrow();
      expect(() => new PrismaBackend({ connectionString: url.toString(), schema: 'other' })).toThrow(ValidationError);
      await expect(migrate({ connectionString: url.toString() }, { schema: 'other' })).rejects.toThrow(/from_url/);
    } finally {
      await db.drop();
    }
  });

  test('an install in public is refused untouched (its records are in the app\'s history), then moved to chord with them when asked; the app\'s own records stay', async () => {
    const db = await emptyDatabase();
    try {
      // The state an older chord-sync left: tables and records in public, beside the app's own migration.
      await migrate({ connectionString: db.url }, { schema: 'public' });
      await withClient(db.url, async (c) => {
        await c.query(`INSERT INTO public."_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
                       VALUES ('app-1', 'x', now(), '20250101000000_app_init', 1)`);
      });
      const legacy = new PrismaBackend({ connectionString: db.url, schema: 'public', poolSize: 1 });
      await legacy.setContext('kept', { n: 1 }, 1);
      await legacy.close();

      // Refused: the app's migrations folder may still hold these migrations; nothing moves yet.
      const refused = await migrate({ connectionString: db.url }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(MigrationError);
      expect((refused as Error).message).toMatch(/delete those folders first .*chord-sync migrate --move-from-public/);
      expect((refused as Error).message).toMatch(/pass --schema public/);
      expect(await tablesIn(db.url, 'public')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
      expect(await tablesIn(db.url, 'chord')).toEqual([]);
      expect(await recordedIn(db.url, 'public')).toEqual(['20250101000000_app_init', ...chordMigrations].sort());

      const events: MigrateProgress[] = [];
      const result = await migrate({ connectionString: db.url }, { moveFromPublic: true, onProgress: (e) => events.push(e) });
      expect(result).toEqual({ applied: [], alreadyApplied: chordMigrations.length });
      expect(events[0]).toEqual({ kind: 'moved-from-public', schema: 'chord', tables: ['chord_contexts', 'chord_deltas', 'chord_writes'], records: chordMigrations.length });
      expect(await tablesIn(db.url, 'public')).toEqual(['_prisma_migrations']);
      expect(await recordedIn(db.url, 'public')).toEqual(['20250101000000_app_init']);
      expect(await recordedIn(db.url, 'chord')).toEqual(chordMigrations);

      const backend = new PrismaBackend({ connectionString: db.url, poolSize: 1 });
      expect(await backend.getContext('kept')).toMatchObject({ contextId: 'kept', version: 1, context: { n: 1 } });
      await backend.close();
      // Said on the command line, with what an app must change.
      const io = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['migrate'], io)).toBe(0);
      expect(io.stdout).not.toMatch(/moved/); // nothing left to move the second time
    } finally {
      await db.drop();
    }
  });

  test('the CLI refuses a public install with what to check, and with --move-from-public says it moved it and what an app must change', async () => {
    const db = await emptyDatabase();
    try {
      await migrate({ connectionString: db.url }, { schema: 'public' });
      const refused = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['migrate'], refused)).toBe(1);
      expect(refused.stderr.split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/^chord-sync migrate: chord-sync's tables are in schema public.*--move-from-public/);
      const io = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['migrate', '--move-from-public'], io), io.stderr).toBe(0);
      expect(io.stdout).toMatch(/moved chord_contexts and chord_deltas .* from schema public to chord/);
      expect(io.stdout).toMatch(/schema: 'public' must drop that option/);
    } finally {
      await db.drop();
    }
  });

  // Tables without records: what running chord-sync's SQL by hand, or an older chord-sync's move
  // that then failed, leaves. Applying the first migration would fail ("already exists") on every
  // run; instead nothing is done, and the message says how out (drop, or record them).
  for (const where of ['public', 'chord'] as const) {
    test(`tables in ${where} without migration records: refused, nothing changed, the same on a rerun`, async () => {
      const db = await emptyDatabase();
      try {
        await migrate({ connectionString: db.url }, { schema: where });
        await withClient(db.url, (c) => c.query(`DELETE FROM ${pg.escapeIdentifier(where)}."_prisma_migrations"`));
        for (const attempt of [1, 2]) {
          const error = await migrate({ connectionString: db.url }, { moveFromPublic: true }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, `attempt ${attempt}`).toBeInstanceOf(MigrationError);
          expect((error as Error).message, `attempt ${attempt}`).toMatch(new RegExp(`tables exist in schema ${where} but no migration record`));
          expect((error as Error).message).toMatch(/drop them .* run migrate again.*prisma migrate resolve --applied/);
          expect((error as Error).message).not.toMatch(/already exists/);
          expect(await tablesIn(db.url, where), `attempt ${attempt}: still in ${where}`).toEqual(expect.arrayContaining(['chord_contexts', 'chord_deltas']));
        }
        if (where === 'public') expect(await tablesIn(db.url, 'chord')).toEqual([]);
      } finally {
        await db.drop();
      }
    });
  }

  test('migrate counts only chord-sync\'s migrations in a history it shares with an app (schema public)', async () => {
    const db = await emptyDatabase();
    try {
      await withClient(db.url, async (c) => {
        await c.query(`CREATE TABLE public."_prisma_migrations" (id VARCHAR(36) PRIMARY KEY, checksum VARCHAR(64) NOT NULL, finished_at TIMESTAMPTZ,
                         migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at TIMESTAMPTZ, started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                         applied_steps_count INTEGER NOT NULL DEFAULT 0)`);
        // Two of the app's: one finished, one failed midway (not chord-sync's business either way).
        await c.query(`INSERT INTO public."_prisma_migrations" (id, checksum, finished_at, migration_name) VALUES
                         ('a', 'x', now(), '20250101000000_app_init'), ('b', 'y', NULL, '20250102000000_app_broken')`);
      });
      expect(await migrate({ connectionString: db.url }, { schema: 'public' })).toEqual({ applied: chordMigrations, alreadyApplied: 0 });
      const events: MigrateProgress[] = [];
      expect(await migrate({ connectionString: db.url }, { schema: 'public', onProgress: (e) => events.push(e) })).toEqual({
        applied: [],
        alreadyApplied: chordMigrations.length,
      });
      expect(events).toEqual([{ kind: 'up-to-date', appliedBefore: chordMigrations.length }]);
    } finally {
      await db.drop();
    }
  });
});

describe('migrate --print', { timeout: 240_000 }, () => {
  test('prints the SQL without connecting; run by psql-like simple query it provisions and records as migrate does, and runs again harmlessly', async () => {
    const io = recordingIo({ DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' });
    expect(await main(['migrate', '--print', '--schema', 'printed'], io), io.stderr).toBe(0);
    expect(`${io.stdout}\n`).toBe(await migrationScript({ schema: 'printed' }));
    for (const name of chordMigrations) expect(io.stdout).toContain(`-- ${name}`);

    const db = await emptyDatabase();
    try {
      await withClient(db.url, async (c) => {
        await c.query(io.stdout);
        await c.query(io.stdout); // every migration is guarded by its record
      });
      expect(await tablesIn(db.url, 'printed')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
      expect(await recordedIn(db.url, 'printed')).toEqual(chordMigrations);
      // migrate() reads the script's records as its own: nothing left to apply, no checksum refused.
      expect(await migrate({ connectionString: db.url }, { schema: 'printed' })).toEqual({ applied: [], alreadyApplied: chordMigrations.length });
    } finally {
      await db.drop();
    }
  });

  test('honours ?schema= in the URL, and defaults to chord', async () => {
    const withSchema = recordingIo({ DATABASE_URL: 'postgresql://u@h/db?schema=tenant_a' });
    expect(await main(['migrate', '--print'], withSchema)).toBe(0);
    expect(withSchema.stdout).toContain('CREATE SCHEMA IF NOT EXISTS "tenant_a";');
    const plain = recordingIo({});
    expect(await main(['migrate', '--print'], plain)).toBe(0);
    expect(plain.stdout).toContain('CREATE SCHEMA IF NOT EXISTS "chord";');
  });
});
