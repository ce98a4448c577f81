// Prisma Migrate itself, on chord-sync's migrations: the Prisma CLI runs with Prisma's own schema
// engine, compiled to Wasm, behind PRISMA_SCHEMA_ENGINE_BINARY (scripts/prisma-schema-engine.mjs;
// the native binary cannot be downloaded here). Every shipped migration is applied, whatever their
// number: the list is read from prisma/migrations, never written out here.
//
// - the stand-in runs only on the versions it was checked against, and says so otherwise;
// - `prisma migrate deploy` with the README's chord.prisma.config.ts, word for word, in an app that
//   installed chord-sync, provisions schema chord on a fresh database; `migrate status` agrees;
// - `prisma migrate diff --from-migrations … --to-schema prisma/schema.prisma --exit-code`: no drift;
// - `chord-sync migrate` and `prisma migrate deploy` each read the other's database as up to date;
// - docs/prisma.md's app recipe: `prisma migrate dev` on an app with its own models and chord-sync's
//   fragment, twice, then chord-sync through { connectionString } and { prisma }.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PrismaClient } from '../../../src/backends/prisma/generated/client.js';
import { PrismaBackend, migrate } from '../../../src/backends/prisma/index.js';
import { Chord } from '../../../src/engine/index.js';
import { REPO_ROOT, ensureBuilt } from '../../support/build.js';
import { createRunDatabase } from '../../support/database.js';
import { noServerReason, skipNote } from '../../support/targets.js';
import { runServerUrl } from '../../reliability/support.js';

const server = runServerUrl();
const STAND_IN = join(REPO_ROOT, 'scripts', 'prisma-schema-engine.mjs');
const PRISMA_CLI = join(REPO_ROOT, 'node_modules', 'prisma', 'build', 'index.js');
/** A hang bound for one Prisma CLI call on a loaded machine (it takes 5–20 s here). */
const CLI_TIMEOUT_MS = 240_000;

/** Every migration chord-sync ships, in order: whatever prisma/migrations holds. */
const SHIPPED = readdirSync(join(REPO_ROOT, 'prisma', 'migrations'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(REPO_ROOT, 'prisma', 'migrations', entry.name, 'migration.sql')))
  .map((entry) => entry.name)
  .sort();

interface Run {
  readonly code: number;
  readonly out: string;
}

function run(command: string, args: readonly string[], cwd: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** The Prisma CLI with the Wasm engine, offline. */
function prisma(args: readonly string[], options: { cwd?: string; url: string }): Promise<Run> {
  return run(process.execPath, [PRISMA_CLI, ...args], options.cwd ?? REPO_ROOT, {
    PRISMA_SCHEMA_ENGINE_BINARY: STAND_IN,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
    DATABASE_URL: options.url,
  });
}

function withSchema(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('schema', schema);
  return u.toString();
}

async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const recorded = (url: string, schema = 'chord'): Promise<string[]> =>
  query<{ name: string }>(url, `SELECT migration_name AS name FROM "${schema}"."_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`).then((rows) => rows.map((r) => r.name));

const tablesIn = (url: string, schema: string): Promise<string[]> =>
  query<{ name: string }>(url, `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema]).then((rows) => rows.map((r) => r.name));

const drops: Array<() => Promise<void>> = [];
async function freshDatabase(): Promise<string> {
  const db = await createRunDatabase(server as string);
  drops.push(db.drop);
  return db.url;
}

afterAll(async () => {
  for (const drop of drops) await drop().catch(() => {});
});

describe('the Wasm schema engine stand-in', () => {
  test('runs on the pinned versions, which package.json pins exactly', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    for (const name of ['prisma', '@prisma/adapter-pg', '@prisma/driver-adapter-utils', '@prisma/schema-engine-wasm']) {
      expect(pkg.devDependencies[name], `${name} is pinned to one version`).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    }
    const version = await run(process.execPath, [STAND_IN, '--version'], REPO_ROOT, {});
    expect(version.out).toMatch(/^schema-engine-cli \w+ \(Wasm, @prisma\/schema-engine-wasm /);
    expect(version.code).toBe(0);
  });

  test('a Prisma upgrade stops it with a message saying what to check, never a silent run', async () => {
    // A copy of the stand-in beside a node_modules where `prisma` claims another version.
    const dir = mkdtempSync(join(tmpdir(), 'chord-prisma-upgrade-'));
    try {
      mkdirSync(join(dir, 'scripts'));
      cpSync(STAND_IN, join(dir, 'scripts', 'prisma-schema-engine.mjs'));
      mkdirSync(join(dir, 'node_modules', 'prisma'), { recursive: true });
      for (const entry of readdirSync(join(REPO_ROOT, 'node_modules'))) {
        if (entry !== 'prisma') symlinkSync(join(REPO_ROOT, 'node_modules', entry), join(dir, 'node_modules', entry));
      }
      const prismaPkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'prisma', 'package.json'), 'utf8')) as { version: string };
      writeFileSync(join(dir, 'node_modules', 'prisma', 'package.json'), JSON.stringify({ ...prismaPkg, version: '99.0.0' }));
      symlinkSync(join(REPO_ROOT, 'node_modules', 'prisma', 'build'), join(dir, 'node_modules', 'prisma', 'build'));
      const result = await run(process.execPath, [join(dir, 'scripts', 'prisma-schema-engine.mjs'), '--datasource', '{"url":"postgresql://x@127.0.0.1:1/x"}'], dir, {});
      expect(result.code).toBe(1);
      expect(result.out).toContain('refusing to run: prisma is 99.0.0, this stand-in is checked against');
      expect(result.out).toContain('update PINNED and package.json');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(server === undefined)(`prisma migrate on chord-sync's migrations${skipNote(noServerReason())}`, () => {
  beforeAll(() => ensureBuilt(), 300_000);

  test(`prisma migrate deploy with the README's config applies every shipped migration (${SHIPPED.length}) into schema chord on a fresh database; migrate status says up to date`, async () => {
    const db = await freshDatabase();
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const config = /```ts\n(\/\/ chord\.prisma\.config\.ts[\s\S]*?)```/.exec(readme)?.[1];
    expect(config, 'the README shows chord.prisma.config.ts').toBeDefined();
    const app = mkdtempSync(join(tmpdir(), 'chord-prisma-deploy-'));
    try {
      // An app with chord-sync installed (and Prisma's CLI beside it).
      mkdirSync(join(app, 'node_modules'));
      for (const entry of readdirSync(join(REPO_ROOT, 'node_modules'))) symlinkSync(join(REPO_ROOT, 'node_modules', entry), join(app, 'node_modules', entry));
      symlinkSync(REPO_ROOT, join(app, 'node_modules', 'chord-sync'));
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      writeFileSync(join(app, 'chord.prisma.config.ts'), config as string);
      const deploy = await prisma(['migrate', 'deploy', '--config', 'chord.prisma.config.ts'], { cwd: app, url: db });
      // Shown in the log: Prisma's engine applying chord-sync's migrations.
      console.log(`prisma migrate deploy (Wasm schema engine):\n${deploy.out.trim()}`);
      expect(deploy.out).toContain('All migrations have been successfully applied');
      expect(deploy.code, deploy.out).toBe(0);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
    expect(await recorded(db)).toEqual(SHIPPED);
    expect(await tablesIn(db, 'chord')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
    expect(await tablesIn(db, 'public')).toEqual([]);
    const status = await prisma(['migrate', 'status'], { url: withSchema(db, 'chord') });
    expect(status.out).toContain(`${SHIPPED.length} migration${SHIPPED.length === 1 ? '' : 's'} found in prisma/migrations`);
    expect(status.out).toContain('Database schema is up to date!');
    expect(status.code, status.out).toBe(0);
  });

  test('prisma migrate diff from the migrations to prisma/schema.prisma finds no drift (and finds a changed schema)', async () => {
    const db = await freshDatabase();
    const url = withSchema(db, 'chord');
    const diff = await prisma(['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', 'prisma/schema.prisma', '--exit-code'], { url });
    expect(diff.code, diff.out).toBe(0);
    // The control: the same command on a schema with one more column reports it, exit code 2.
    const dir = mkdtempSync(join(tmpdir(), 'chord-prisma-drift-'));
    try {
      const changed = readFileSync(join(REPO_ROOT, 'prisma', 'schema.prisma'), 'utf8').replace('  delta      Json\n', '  delta      Json\n  extra      Int?\n');
      writeFileSync(join(dir, 'schema.prisma'), changed);
      const drift = await prisma(['migrate', 'diff', '--from-migrations', 'prisma/migrations', '--to-schema', join(dir, 'schema.prisma'), '--exit-code'], { url });
      expect(drift.out).toMatch(/extra/);
      expect(drift.code, drift.out).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The shadow databases the engine made are gone.
    expect(await query(db, `SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'`)).toEqual([]);
  });

  test('a database provisioned by chord-sync migrate: prisma migrate deploy finds nothing to apply', async () => {
    const db = await freshDatabase();
    const ours = await migrate({ connectionString: db });
    expect(ours.applied).toEqual(SHIPPED);
    const deploy = await prisma(['migrate', 'deploy'], { url: withSchema(db, 'chord') });
    expect(deploy.out).toContain('No pending migrations to apply.');
    expect(deploy.code, deploy.out).toBe(0);
    expect(await recorded(db)).toEqual(SHIPPED);
  });

  test('a database provisioned by prisma migrate deploy: chord-sync migrate finds nothing to apply, and the backend works on it', async () => {
    const db = await freshDatabase();
    const deploy = await prisma(['migrate', 'deploy'], { url: withSchema(db, 'chord') });
    expect(deploy.code, deploy.out).toBe(0);
    const ours = await migrate({ connectionString: db });
    expect(ours.applied).toEqual([]);
    expect(ours.alreadyApplied).toBe(SHIPPED.length);
    const backend = new PrismaBackend({ connectionString: db });
    try {
      const chord = new Chord({ backend });
      await chord.setContext('a', { n: 1 });
      await chord.updateContext('a', { n: 2 });
      expect(await chord.getContext('a')).toMatchObject({ context: { n: 2 }, version: 2 });
    } finally {
      await backend.close();
    }
  });

  describe("docs/prisma.md's app: its own models plus chord-sync's fragment, prisma migrate dev", () => {
    let app: string;
    let db: string;

    beforeAll(async () => {
      db = await freshDatabase();
      app = mkdtempSync(join(tmpdir(), 'chord-prisma-dev-'));
      // The app's node_modules: this repository's packages, and chord-sync itself (for `npx chord-sync`).
      mkdirSync(join(app, 'node_modules', '.bin'), { recursive: true });
      for (const entry of readdirSync(join(REPO_ROOT, 'node_modules'))) {
        if (entry !== '.bin') symlinkSync(join(REPO_ROOT, 'node_modules', entry), join(app, 'node_modules', entry));
      }
      symlinkSync(REPO_ROOT, join(app, 'node_modules', 'chord-sync'));
      symlinkSync(join(REPO_ROOT, 'bin', 'chord-sync.js'), join(app, 'node_modules', '.bin', 'chord-sync'));
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      mkdirSync(join(app, 'prisma', 'schema'), { recursive: true });
      writeFileSync(
        join(app, 'prisma', 'schema', 'schema.prisma'),
        'generator client {\n  provider = "prisma-client"\n  output   = "../../generated"\n}\n\ndatasource db {\n  provider = "postgresql"\n  schemas  = ["public", "chord"]\n}\n',
      );
      writeFileSync(join(app, 'prisma', 'schema', 'app.prisma'), 'model Order {\n  id         Int    @id @default(autoincrement())\n  customerId String\n\n  @@schema("public")\n}\n');
      cpSync(join(REPO_ROOT, 'prisma', 'fragment', 'chord.prisma'), join(app, 'prisma', 'schema', 'chord.prisma'));
      // docs/prisma.md's prisma.config.ts, word for word.
      const doc = readFileSync(join(REPO_ROOT, 'docs', 'prisma.md'), 'utf8');
      const config = /```ts\n(\/\/ prisma\.config\.ts\n[\s\S]*?)```/.exec(doc)?.[1];
      expect(config, 'docs/prisma.md shows a prisma.config.ts').toBeDefined();
      writeFileSync(join(app, 'prisma.config.ts'), config as string);
      // chord-sync's tables first, as the recipe says: by chord-sync's SQL.
      await migrate({ connectionString: db });
    }, 300_000);

    afterAll(() => {
      if (app !== undefined) rmSync(app, { recursive: true, force: true });
    });

    test("the first migrate dev makes and applies the app's migration, without chord-sync's tables", async () => {
      const dev = await prisma(['migrate', 'dev', '--name', 'init'], { cwd: app, url: db });
      expect(dev.out).toContain('Your database is now in sync with your schema.');
      expect(dev.code, dev.out).toBe(0);
      const [made] = readdirSync(join(app, 'prisma', 'migrations')).filter((name) => name.endsWith('_init'));
      const sql = readFileSync(join(app, 'prisma', 'migrations', made as string, 'migration.sql'), 'utf8');
      expect(sql).toContain('CREATE TABLE "Order"');
      expect(sql).not.toMatch(/chord_/);
      expect(await tablesIn(db, 'public')).toEqual(['Order', '_prisma_migrations']);
      expect(await tablesIn(db, 'chord')).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
    });

    test('a change to the app model: the next migrate dev finds no drift and adds just that change', async () => {
      writeFileSync(join(app, 'prisma', 'schema', 'app.prisma'), 'model Order {\n  id         Int     @id @default(autoincrement())\n  customerId String\n  note       String?\n\n  @@schema("public")\n}\n');
      const dev = await prisma(['migrate', 'dev', '--name', 'note'], { cwd: app, url: db });
      expect(dev.out).not.toMatch(/Drift detected|reset/i);
      expect(dev.code, dev.out).toBe(0);
      const [made] = readdirSync(join(app, 'prisma', 'migrations')).filter((name) => name.endsWith('_note'));
      expect(readFileSync(join(app, 'prisma', 'migrations', made as string, 'migration.sql'), 'utf8')).toMatch(/ALTER TABLE "Order" ADD COLUMN\s+"note" TEXT/);
      expect(await query(db, `SELECT datname FROM pg_database WHERE datname LIKE 'prisma_migrate_shadow_db_%'`)).toEqual([]);
    });

    test('chord-sync works on the result through { connectionString } and { prisma }', async () => {
      const backend = new PrismaBackend({ connectionString: db });
      const pool = new pg.Pool({ connectionString: db, max: 2 });
      const client = new PrismaClient({ adapter: new PrismaPg(pool) });
      try {
        await new Chord({ backend }).setContext('order:1', { items: 1 });
        const viaPrisma = new Chord({ backend: new PrismaBackend({ prisma: client }) });
        await viaPrisma.updateContext('order:1', { items: 2 });
        expect(await viaPrisma.getContext('order:1')).toMatchObject({ context: { items: 2 }, version: 2 });
        expect(await new Chord({ backend }).syncContext('order:1', 1)).toMatchObject({ version: 2 });
      } finally {
        await backend.close();
        await client.$disconnect();
        await pool.end();
      }
    });
  });
});
