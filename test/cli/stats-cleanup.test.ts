import { describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { DEFAULT_SCHEMA, PrismaBackend } from '../../src/backends/prisma/index.js';
import { formatDuration, parseDuration, runCleanupCommand } from '../../src/cli/commands/cleanup.js';
import { printStats } from '../../src/cli/commands/stats.js';
import { main } from '../../src/cli/main.js';
import { Chord } from '../../src/engine/chord.js';
import { ValidationError } from '../../src/errors.js';
import { manualClock } from '../../src/testing/harness.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, emptyWireDatabase } from '../support/targets.js';
import { recordingIo } from './io.js';

const DAY = 86_400_000;

/** A memory backend whose writes are stamped `ageMs` in the past (cleanup runs on the real clock). */
function agedBackend(ageMs: number) {
  const clock = manualClock(Date.now() - ageMs);
  const backend = new MemoryBackend({ clock });
  return { backend, clock, chord: new Chord({ backend, clock }) };
}

describe('chord-sync stats (printStats)', () => {
  test('prints contexts with version, delta count and last write as a table, ids JSON-quoted', async () => {
    const { backend, chord } = agedBackend(0);
    await chord.setContext('room:1', { a: 1 });
    await chord.setContext('room:1', { a: 2 });
    await chord.setContext('room:1', { a: 3 });
    await chord.setContext('user "ada"', { online: true });
    await backend.deleteDeltasExceedingThreshold('user "ada"', 0);
    const io = recordingIo();
    await printStats(backend, io);
    const lines = io.stdout.split('\n');
    expect(lines[0]).toMatch(/^CONTEXT\s+VERSION\s+DELTAS\s+LAST WRITE$/);
    expect(lines[1]).toMatch(/^-+ +-+ +-+ +-+$/);
    expect(lines[2]).toMatch(/^"room:1"\s+3\s+3\s+\d{4}-\d\d-\d\dT/);
    expect(lines[3]).toMatch(/^"user \\"ada\\""\s+1\s+0\s+\d{4}-/);
    expect(io.stdout).toContain('Contexts 1–2 (2 shown, 3 deltas among them).');
  });

  test('pages with limit and offset and says how to see more', async () => {
    const { backend, chord } = agedBackend(0);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await chord.setContext(id, { id });
    const first = recordingIo();
    await printStats(backend, first, { limit: 2 });
    expect(first.stdout).toMatch(/^"a" /m);
    expect(first.stdout).toMatch(/^"b" /m);
    expect(first.stdout).not.toMatch(/^"c" /m);
    expect(first.stdout).toContain('more with --offset 2');
    const last = recordingIo();
    await printStats(backend, last, { limit: 2, offset: 4 });
    expect(last.stdout).toMatch(/^"e" /m);
    expect(last.stdout).toContain('Contexts 5–5 (1 shown');
    expect(last.stdout).not.toContain('more with');
    const past = recordingIo();
    await printStats(backend, past, { offset: 9 });
    expect(past.stdout).toBe('No contexts past the first 9.');
    const empty = recordingIo();
    await printStats(new MemoryBackend(), empty);
    expect(empty.stdout).toBe('No contexts stored.');
  });
});

describe('chord-sync cleanup (runCleanupCommand)', () => {
  test('deletes expired deltas by the default 24 h TTL and reports each step', async () => {
    const { backend, clock, chord } = agedBackend(2 * DAY);
    for (let i = 0; i < 3; i++) await chord.setContext('old', { i });
    clock.set(Date.now());
    await chord.setContext('old', { i: 'fresh' });
    const io = recordingIo();
    const report = await runCleanupCommand(backend, io);
    expect(report.deltasDeleted.expired).toBe(3);
    expect(io.stdout).toMatch(/deltas older than 1d, keep the newest 100 deltas per context, batches of 10000/);
    expect(io.stdout).toContain('expired deltas deleted: 3');
    expect(io.stdout).toContain('idle contexts deleted: 0 (with 0 deltas)');
    expect(io.stdout).toMatch(/Done in \d+ ms: 0 context\(s\) and 3 delta\(s\) deleted\./);
    expect(io.stdout).not.toContain('so far');
    expect((await backend.listDeltas({ contextId: 'old' })).map((d) => d.version)).toEqual([4]);
  });

  test('a long run (batches coming back full) prints progress for each full batch', async () => {
    const { backend, clock, chord } = agedBackend(2 * DAY);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 2; i++) await chord.setContext(`ctx${c}`, { i });
    clock.set(Date.now());
    await chord.setContext('idle-no-more', { x: 1 });
    const io = recordingIo();
    const report = await runCleanupCommand(backend, io, { batchSize: 2, contextTtl: DAY });
    expect(report.contextsDeleted).toBe(3);
    expect(io.stdout).toContain('idle contexts: 2 deleted so far…');
    expect(io.stdout).not.toContain('idle contexts: 3 deleted so far…'); // the last, short batch
    expect(io.stdout).toContain('idle contexts deleted: 3 (with 6 deltas)');
    expect(io.stdout).toMatch(/contexts idle longer than 1d/);
  });

  test('threshold, off and a single context are honoured', async () => {
    const { backend, chord } = agedBackend(0);
    for (let i = 0; i < 4; i++) await chord.setContext('keep2', { i });
    for (let i = 0; i < 4; i++) await chord.setContext('other', { i });
    const io = recordingIo();
    const report = await runCleanupCommand(backend, io, { deltaThreshold: 2, deltaTtl: null, contextId: 'keep2' });
    expect(report.deltasDeleted.beyondThreshold).toBe(2);
    expect(io.stdout).toContain('deltas older than off');
    expect(io.stdout).toContain('only context "keep2"');
    expect(io.stdout).toContain('deltas beyond the newest 2 per context deleted: 2');
    expect((await backend.listDeltas({ contextId: 'other' })).length).toBe(4);
  });

  test('durations: milliseconds, units and off; anything else is a ValidationError naming the option', () => {
    expect(parseDuration('90000', '--delta-ttl')).toBe(90_000);
    expect(parseDuration('500ms', '--delta-ttl')).toBe(500);
    expect(parseDuration('30s', '--delta-ttl')).toBe(30_000);
    expect(parseDuration('15m', '--delta-ttl')).toBe(900_000);
    expect(parseDuration('24h', '--delta-ttl')).toBe(DAY);
    expect(parseDuration('7d', '--context-ttl')).toBe(7 * DAY);
    expect(parseDuration('off', '--context-ttl')).toBeNull();
    expect(parseDuration(undefined, '--context-ttl')).toBeUndefined();
    for (const bad of ['1.5h', '-1', '', 'soon', '3w', '99999999999999999d']) {
      expect(() => parseDuration(bad, '--delta-ttl')).toThrow(ValidationError);
      try {
        parseDuration(bad, '--delta-ttl');
      } catch (error) {
        expect((error as ValidationError).argument).toBe('--delta-ttl');
      }
    }
    expect(formatDuration(DAY)).toBe('1d');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(null)).toBe('off');
  });
});

describe('chord-sync stats and cleanup: usage', () => {
  test('help lists both; without a database both say how to give one and exit 2', async () => {
    const help = recordingIo();
    expect(await main(['help'], help)).toBe(0);
    expect(help.stdout).toMatch(/^ {2}stats /m);
    expect(help.stdout).toMatch(/^ {2}cleanup /m);
    for (const command of ['stats', 'cleanup']) {
      const io = recordingIo({});
      expect(await main([command], io)).toBe(2);
      expect(io.stderr).toContain(`chord-sync ${command}: no database given: set DATABASE_URL or pass --url`);
    }
  });

  test('bad option values exit 2 naming the option, before connecting anywhere', async () => {
    const env = { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' };
    const cases: Array<[string[], RegExp]> = [
      [['cleanup', '--threshold', 'many'], /invalid --threshold/],
      [['cleanup', '--batch-size', '0'], /invalid --batch-size/],
      [['cleanup', '--delta-ttl', '2 weeks'], /invalid --delta-ttl/],
      [['cleanup', '--context-ttl', '1.5d'], /invalid --context-ttl/],
      [['cleanup', '--context', ''], /invalid --context/],
      [['stats', '--limit=-3'], /invalid --limit/],
      [['stats', '--offset', 'x'], /invalid --offset/],
      [['cleanup', '--frobnicate'], /Unknown option '--frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const io = recordingIo(env);
      expect(await main(args, io), args.join(' ')).toBe(2);
      expect(io.stderr).toMatch(message);
    }
  });
});

// Without a PostgreSQL server, the commands reach PGlite over its wire protocol instead.
const emptyDatabase = emptyWireDatabase();
const onWhat = serverUrl(databaseChoice()) !== undefined ? 'PostgreSQL' : "PGlite's socket (no PostgreSQL server)";

describe(`chord-sync stats and cleanup on ${onWhat}`, () => {
    test('migrate, write, stats shows the table, cleanup deletes with progress, stats shows the result', async () => {
      const db = await emptyDatabase();
      try {
        expect(await main(['migrate', '--url', db.url], recordingIo())).toBe(0);
        const clock = manualClock(Date.now() - 2 * DAY);
        // One connection: PGlite's socket serves one client at a time (no matter on a server).
        const backend = new PrismaBackend({ connectionString: db.url, clock, poolSize: 1 });
        try {
          const chord = new Chord({ backend, clock });
          for (let i = 0; i < 5; i++) await chord.setContext('room:old', { i });
          clock.set(Date.now());
          for (let i = 0; i < 3; i++) await chord.setContext('room:new', { i });
        } finally {
          await backend.close();
        }

        const stats = recordingIo({ DATABASE_URL: db.url });
        expect(await main(['stats'], stats), stats.stderr).toBe(0);
        expect(stats.stdout).toMatch(/^"room:new"\s+3\s+3\s/m);
        expect(stats.stdout).toMatch(/^"room:old"\s+5\s+5\s/m);

        const cleanup = recordingIo({ DATABASE_URL: db.url });
        expect(await main(['cleanup', '--batch-size', '2', '--threshold', '2'], cleanup), cleanup.stderr).toBe(0);
        expect(cleanup.stdout).toContain('expired deltas: 2 deleted so far…');
        expect(cleanup.stdout).toContain('expired deltas deleted: 5');
        expect(cleanup.stdout).toContain('deltas beyond the newest 2 per context deleted: 1');

        const after = recordingIo({ DATABASE_URL: db.url });
        expect(await main(['stats', '--limit', '1'], after)).toBe(0);
        expect(after.stdout).toMatch(/^"room:new"\s+3\s+2\s/m);
        expect(after.stdout).toContain('more with --offset 1');

        const rows = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${DEFAULT_SCHEMA}".chord_deltas`);
        expect(rows[0]?.n).toBe('2');
      } finally {
        await db.drop();
      }
    });
});
