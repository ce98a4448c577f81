// The command's flags and manners: --version, stats --json, cleanup --dry-run (what each step
// would delete, deleting nothing), a closed pipe ends it quietly, and every usage error is one
// line pointing to --help with exit code 2.
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import { beforeAll, describe, expect, test } from 'vitest';
import { PrismaBackend, migrate } from '../../src/backends/prisma/index.js';
import { main, packageVersion } from '../../src/cli/main.js';
import { Chord } from '../../src/engine/chord.js';
import { CLI_BIN, REPO_ROOT, ensureBuilt } from '../support/build.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, emptyWireDatabase, noServerReason, skipNote } from '../support/targets.js';
import { recordingIo } from './io.js';

const emptyDatabase = emptyWireDatabase();

test('--version prints the package version', async () => {
  for (const flag of ['--version', '-v']) {
    const io = recordingIo();
    expect(await main([flag], io)).toBe(0);
    expect(io.stdout).toBe(packageVersion());
  }
  expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/);
});

describe('usage errors: exit 2, one line, a pointer to --help', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['an unknown option', ['stats', '--bogus', '--url', 'postgresql://u@h/db'], /--bogus/],
    ['a positional argument', ['migrate', 'extra', '--url', 'postgresql://u@h/db'], /extra/],
    ['a bad count', ['stats', '--limit', 'ten', '--url', 'postgresql://u@h/db'], /--limit/],
    ['a bad duration', ['cleanup', '--delta-ttl', '5 parsecs', '--url', 'postgresql://u@h/db'], /--delta-ttl/],
    ['an empty schema', ['migrate', '--schema', '', '--url', 'postgresql://u@h/db'], /--schema/],
    ['an empty schema for stats', ['stats', '--schema', '', '--url', 'postgresql://u@h/db'], /--schema/],
    ['no database', ['stats'], /no database given/],
    ['a URL that does not parse', ['stats', '--url', 'base'], /--url is not a URL .*"base"/],
    ['a DATABASE_URL that does not parse', ['cleanup'], /DATABASE_URL is not a URL/],
  ];
  for (const [what, argv, message] of cases) {
    test(what, async () => {
      const io = recordingIo(argv[0] === 'cleanup' ? { DATABASE_URL: 'postgresql://user:secret@host:port/db' } : {});
      expect(await main(argv, io)).toBe(2);
      expect(io.stdout).toBe('');
      expect(io.stderr.split('\n')).toHaveLength(1);
      expect(io.stderr).toMatch(message);
      expect(io.stderr).toMatch(/see chord-sync( \w+)? --help/);
      expect(io.stderr).not.toContain('secret');
    });
  }
});

describe('on a database', () => {
  test('stats --json prints one JSON object with the page of contexts, and nothing else on stdout', async () => {
    const db = await emptyDatabase();
    try {
      await migrate({ connectionString: db.url });
      const backend = new PrismaBackend({ connectionString: db.url, poolSize: 1 });
      const chord = new Chord({ backend });
      await chord.setContext('b', { n: 1 });
      await chord.updateContext('b', { n: 2 });
      await chord.setContext('a', { n: 1 });
      await backend.close();
      const io = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['stats', '--json', '--limit', '1'], io), io.stderr).toBe(0);
      const parsed = JSON.parse(io.stdout) as { contexts: Array<Record<string, unknown>>; offset: number; more: boolean };
      expect(parsed).toMatchObject({ offset: 0, more: true, contexts: [{ contextId: 'a', version: 1, deltas: 1 }] });
      expect(parsed.contexts[0]!.insertedAt).toBeTypeOf('number');
      const next = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['stats', '--json', '--offset', '1'], next)).toBe(0);
      expect(JSON.parse(next.stdout)).toMatchObject({ offset: 1, more: false, contexts: [{ contextId: 'b', version: 2, deltas: 2 }] });
    } finally {
      await db.drop();
    }
  });

  test('cleanup --dry-run counts, by step, exactly what the cleanup then deletes, and deletes nothing itself', async () => {
    const db = await emptyDatabase();
    try {
      await migrate({ connectionString: db.url });
      const day = 86_400_000;
      let now = Date.now() - 10 * day;
      const backend = new PrismaBackend({ connectionString: db.url, poolSize: 1, clock: () => now });
      const chord = new Chord({ backend, clock: () => now });
      await chord.setContext('idle', { v: 0 }); // written 10 days ago, never again: idle at --context-ttl 5d
      for (let v = 1; v <= 3; v++) await chord.updateContext('idle', { v });
      await chord.setContext('busy', { v: 0 }); // 10 days ago: its first deltas are expired at 1d
      now += 9.5 * day;
      for (let v = 1; v <= 6; v++) await chord.updateContext('busy', { v }); // recent: 7 deltas in all, 2 expired
      await backend.close();
      const flags = ['--context-ttl', '5d', '--delta-ttl', '1d', '--threshold', '3'];

      const countRows = async () => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          return (await client.query('SELECT (SELECT count(*) FROM chord.chord_contexts)::int AS c, (SELECT count(*) FROM chord.chord_deltas)::int AS d')).rows[0];
        } finally {
          await client.end();
        }
      };
      const before = await countRows();
      const dry = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['cleanup', '--dry-run', ...flags], dry), dry.stderr).toBe(0);
      expect(await countRows()).toEqual(before);
      expect(dry.stdout).toContain('nothing deleted');
      expect(dry.stdout).toMatch(/1\. idle contexts .*: 1 \(with 4 deltas\)/);
      expect(dry.stdout).toMatch(/2\. expired deltas .*: 1\n/);
      // busy keeps 6 recent deltas after expiry; the newest 3 stay.
      expect(dry.stdout).toMatch(/3\. deltas beyond the newest 3 per context: 3\n/);

      const real = recordingIo({ DATABASE_URL: db.url });
      expect(await main(['cleanup', ...flags], real), real.stderr).toBe(0);
      expect(real.stdout).toMatch(/idle contexts deleted: 1 \(with 4 deltas\)/);
      expect(real.stdout).toMatch(/expired deltas deleted: 1\n/);
      expect(real.stdout).toMatch(/deltas beyond the newest 3 per context deleted: 3\n/);
      expect(await countRows()).toEqual({ c: 1, d: 3 });
    } finally {
      await db.drop();
    }
  });

  // PGlite's socket serves one client at a time and drops a queued one after a while; the command's
  // thousands of reads over its own pool are a server's job.
  describe.skipIf(serverUrl(databaseChoice()) === undefined)(`a closed pipe (needs a PostgreSQL server)${skipNote(noServerReason())}`, () => {
    beforeAll(() => ensureBuilt(), 300_000);

    test('stats | head -1 prints one line and exits 0 without an EPIPE trace', async () => {
      const db = await emptyDatabase();
      try {
        await migrate({ connectionString: db.url });
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        // Far more output than a pipe buffers (64 KiB), so the writer meets the closed pipe.
        await client.query(
          `INSERT INTO chord.chord_contexts (context_id, context, version, inserted_at)
           SELECT 'context-with-a-long-enough-id-' || g, '{}'::jsonb, 1, 0 FROM generate_series(1, 3000) g`,
        );
        await client.end();
        const run = spawnSync(
          'bash',
          ['-c', `"${process.execPath}" "${CLI_BIN}" stats --limit 3000 | head -1; echo "exit=\${PIPESTATUS[0]}" >&2`],
          { cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: db.url }, encoding: 'utf8', timeout: 120_000 },
        );
        expect(run.stdout.split('\n').filter((l) => l !== '')).toHaveLength(1);
        expect(run.stderr).not.toMatch(/EPIPE|Error/);
        expect(run.stderr).toContain('exit=0');
      } finally {
        await db.drop();
      }
    });
  });
});
