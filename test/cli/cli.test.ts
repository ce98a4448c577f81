import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { readdirSync } from 'node:fs';
import { DEFAULT_MIGRATIONS_DIR } from '../../src/backends/prisma/index.js';
import { main } from '../../src/cli/main.js';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, emptyWireDatabase } from '../support/targets.js';
import { recordingIo } from './io.js';

const url = serverUrl(databaseChoice());
/** How many migrations the package ships (each a folder). */
const MIGRATIONS = readdirSync(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
// Without a PostgreSQL server the commands reach PGlite over its wire protocol instead, so the
// DATABASE_URL / --url paths run on a fresh machine too.
const emptyDatabase = emptyWireDatabase();
const onWhat = url !== undefined ? 'the server' : "PGlite's socket (no PostgreSQL server)";

const STEPS = [
  /1\. Migrate/,
  /applied \d{14}_init/,
  /v1 {2}setContext {5}\{"title":"Lobby","members":\["ada"\]\}/,
  /v3 {2}updateContext {2}\{"title":"Main hall","members":\["ada","grace"\],"topic":"sync"\}/,
  /from nothing: full context v3/,
  /from v1: one delta v1 → v3 /,
  /from v3: no change \(v3\)/,
  /4\. List contexts with delta counts\n {3}"demo:room-[^"]+": 3 deltas/,
  /removed 2 deltas; "demo:room-[^"]+" now has 1 delta\(s\), context still at v3/,
  /a client at v1 now gets: full/,
  /Done\./,
];

describe('chord-sync demo', () => {
  test('on in-process PGlite (no DATABASE_URL): exits 0 after migrate, three writes, counts and prune', async () => {
    const io = recordingIo({});
    expect(await main(['demo'], io)).toBe(0);
    expect(io.stdout).toContain('in-process PGlite');
    for (const step of STEPS) expect(io.stdout).toMatch(step);
    expect(io.stderr).toBe('');
  });

  test(`on DATABASE_URL: the same steps on ${onWhat}, and its demo context removed afterwards`, async () => {
    const db = await emptyDatabase();
    try {
      const io = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['demo'], io), io.stderr).toBe(0);
      expect(io.stdout).toContain('PostgreSQL at');
      for (const step of STEPS.slice(2)) expect(io.stdout).toMatch(step);
      expect(io.stdout).toMatch(/removed 1 context and its deltas/);
      // The second run finds the tables already there and still works.
      const again = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['demo'], again), again.stderr).toBe(0);
      expect(again.stdout).toMatch(/nothing to apply: \d+ migration\(s\) already applied/);
    } finally {
      await db.drop();
    }
  });
});

describe('chord-sync help and usage errors', () => {
  test('help lists migrate, demo and help; an unknown command exits 2', async () => {
    const io = recordingIo();
    expect(await main(['help'], io)).toBe(0);
    for (const name of ['migrate', 'demo', 'help']) expect(io.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    const bad = recordingIo();
    expect(await main(['frobnicate'], bad)).toBe(2);
    expect(bad.stderr).toMatch(/unknown command "frobnicate"/);
  });

  test('migrate without a database says how to give one and exits 2', async () => {
    const io = recordingIo({});
    expect(await main(['migrate'], io)).toBe(2);
    expect(io.stderr).toMatch(/set DATABASE_URL or pass --url/);
  });
});

/** A bound on a hang of the demo as a program. */
const DEMO_TIMEOUT_MS = 240_000;

describe('npm start', () => {
  test('`node dist/cli/main.js demo` (what npm start runs) runs the demo as a program and exits 0', async () => {
    await ensureBuilt();
    const env = { ...process.env };
    delete env.DATABASE_URL;
    // Asynchronous, so the worker's own timers (vitest's timeout among them) keep running; the
    // child's timeout bounds a hang (a PGlite start in a new process is slow on a loaded machine).
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'demo'], { env, encoding: 'utf8', timeout: DEMO_TIMEOUT_MS });
    for (const step of STEPS) expect(stdout).toMatch(step);
  }, DEMO_TIMEOUT_MS + 60_000);
});

describe(`chord-sync migrate on ${onWhat}`, () => {
    test('provisions a fresh database, then finds nothing to apply', async () => {
      const db = await emptyDatabase();
      try {
        const first = recordingIo({ DATABASE_URL: db.url });
        expect(await main(['migrate'], first), first.stderr).toBe(0);
        expect(first.stdout).toMatch(/applying \d{14}_init…\n {2}applied \d{14}_init\n/);
        expect(first.stdout).toContain(`Done: applied ${MIGRATIONS} migration(s).`);

        // The default schema, chord, holds the tables and their own migration history.
        const rows = await db.query(`SELECT to_regclass('chord.chord_contexts')::text AS c, to_regclass('chord.chord_deltas')::text AS d, (SELECT count(*) FROM chord._prisma_migrations)::int AS n`);
        expect(rows[0]).toEqual({ c: 'chord.chord_contexts', d: 'chord.chord_deltas', n: MIGRATIONS });

        // --url wins over DATABASE_URL.
        const second = recordingIo({ DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' });
        expect(await main(['migrate', '--url', db.url], second), second.stderr).toBe(0);
        expect(second.stdout).toContain(`nothing to apply: all ${MIGRATIONS} migration(s) already applied`);
      } finally {
        await db.drop();
      }
    });

    test('--schema provisions that schema and leaves public alone', async () => {
      const db = await emptyDatabase();
      try {
        const io = recordingIo({ DATABASE_URL: db.url });
        expect(await main(['migrate', '--schema', 'chord'], io), io.stderr).toBe(0);
        const rows = await db.query(`SELECT to_regclass('chord.chord_contexts')::text AS inside, to_regclass('public.chord_contexts')::text AS outside`);
        expect(rows[0]).toEqual({ inside: 'chord.chord_contexts', outside: null });
      } finally {
        await db.drop();
      }
    });
});

describe('chord-sync on an unreachable database', () => {
  test('an unreachable database exits 1 with a message, not a stack trace, for every database command', async () => {
    for (const command of ['migrate', 'stats', 'cleanup', 'demo']) {
      const io = recordingIo();
      expect(await main([command, '--url', 'postgresql://postgres@127.0.0.1:1/none'], io), command).toBe(1);
      expect(io.stderr, command).toMatch(new RegExp(`^chord-sync ${command}: .*the database is unavailable`));
      expect(io.stderr, command).not.toMatch(/\n\s+at /);
    }
  });
});
