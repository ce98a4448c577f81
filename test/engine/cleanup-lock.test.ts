// startCleanup on several app instances: two processes with a schedule each on one database take
// turns, never running a pass at the same time (PrismaBackend's withExclusiveCleanup: a
// pg_try_advisory_lock held for the pass). Without the lock, the same two processes overlap, so the
// probe below does see overlap when there is some.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, describe, expect, test } from 'vitest';
import { PrismaBackend, migrate } from '../../src/backends/prisma/index.js';
import { hasExclusiveCleanup } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';
import { createRunDatabase, serverUrl } from '../support/database.js';
import { databaseChoice, noServerReason, skipNote } from '../support/targets.js';

const run = promisify(execFile);
const server = serverUrl(databaseChoice());

/**
 * One app instance: a Chord with a cleanup schedule, run until it has made `PASSES` passes. Each
 * pass's threshold step is counted on a shared probe row: `n` is how many passes are inside that
 * step right now, and the instance reports the highest `n` it saw. A pass stays in the step until
 * another pass joins it (at most `HOLD_MS`), so two schedules without the lock do meet there; the
 * two instances start their schedules together (`ready`), however slow a process start is on a
 * loaded machine. Nothing here is timed: a slow machine makes the test slower, never wrong.
 */
const INSTANCE = `
  import { Chord } from ${JSON.stringify(join(REPO_ROOT, 'dist', 'index.js'))};
  import { PrismaBackend } from ${JSON.stringify(join(REPO_ROOT, 'dist', 'backends', 'prisma', 'index.js'))};
  import pg from 'pg';
  const url = process.env.URL;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const deadline = Date.now() + 90_000;
  const backend = new PrismaBackend({ connectionString: url, poolSize: 2 });
  if (process.env.NO_LOCK === '1') Object.defineProperty(backend, 'withExclusiveCleanup', { value: undefined });
  const probe = new pg.Pool({ connectionString: url, max: 1 });
  const threshold = backend.deleteDeltasBeyondNewest.bind(backend);
  let highest = 0;
  let passes = 0;
  backend.deleteDeltasBeyondNewest = async (keep, batchSize) => {
    const { rows } = await probe.query('UPDATE chord.probe SET n = n + 1 RETURNING n');
    highest = Math.max(highest, rows[0].n);
    passes++;
    for (const until = Date.now() + Number(process.env.HOLD_MS); highest < 2 && Date.now() < until; await sleep(20)) {
      highest = Math.max(highest, (await probe.query('SELECT n FROM chord.probe')).rows[0].n);
    }
    await probe.query('UPDATE chord.probe SET n = n - 1');
    return threshold(keep, batchSize);
  };
  await probe.query('UPDATE chord.probe SET ready = ready + 1');
  while ((await probe.query('SELECT ready FROM chord.probe')).rows[0].ready < 2) {
    if (Date.now() > deadline) throw new Error('the other instance never started');
    await sleep(20);
  }
  const chord = new Chord({ backend });
  const schedule = chord.startCleanup({ intervalMs: 10, onError: (error) => { console.error(error); process.exitCode = 1; } });
  while (passes < Number(process.env.PASSES) && Date.now() < deadline) await sleep(20);
  await schedule.stop();
  await backend.close();
  await probe.end();
  process.stdout.write(JSON.stringify({ highest, passes }));
`;

/** Passes each instance makes; how long a pass waits in its step for another to join. */
const PASSES = 4;
const HOLD_MS = 500;
/** A bound on a hang only: two node processes starting on a loaded machine. */
const INSTANCES_TIMEOUT_MS = 180_000;

async function twoInstances(url: string, noLock: boolean): Promise<Array<{ highest: number; passes: number }>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('UPDATE chord.probe SET n = 0, ready = 0');
  await client.end();
  const env = { ...process.env, URL: url, PASSES: String(PASSES), HOLD_MS: String(HOLD_MS), NO_LOCK: noLock ? '1' : '0' };
  const runs = [0, 1].map(() => run(process.execPath, ['--input-type=module', '-e', INSTANCE], { cwd: REPO_ROOT, env, timeout: 120_000 }));
  return (await Promise.all(runs)).map(({ stdout }) => JSON.parse(stdout) as { highest: number; passes: number });
}

test('the capability: PrismaBackend has withExclusiveCleanup, MemoryBackend (one process) does not need it', () => {
  expect(hasExclusiveCleanup(new PrismaBackend({ connectionString: 'postgresql://u@h/db' }))).toBe(true);
  expect(hasExclusiveCleanup(new MemoryBackend())).toBe(false);
});

describe.skipIf(server === undefined)(`two app instances with startCleanup on one PostgreSQL database${skipNote(noServerReason())}`, () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    await ensureBuilt();
    db = await createRunDatabase(server!);
    await migrate({ connectionString: db.url });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('CREATE TABLE chord.probe (n int NOT NULL, ready int NOT NULL); INSERT INTO chord.probe VALUES (0, 0)');
    await client.end();
    return () => db.drop();
  }, 300_000);

  test('take turns: never two passes at once, and passes do run', async () => {
    const instances = await twoInstances(db.url, false);
    expect(Math.max(...instances.map((i) => i.highest))).toBe(1);
    // Each ran its passes: with the lock, a pass that finds it taken is skipped, and the next one runs.
    for (const instance of instances) expect(instance.passes).toBeGreaterThanOrEqual(PASSES);
  }, INSTANCES_TIMEOUT_MS);

  test('without the lock the same two instances do overlap (what the probe catches)', async () => {
    const instances = await twoInstances(db.url, true);
    expect(Math.max(...instances.map((i) => i.highest))).toBe(2);
  }, INSTANCES_TIMEOUT_MS);

  test('a pass run while another session holds the lock is skipped at once, reporting nothing deleted', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    const backend = new PrismaBackend({ connectionString: db.url, poolSize: 1 });
    try {
      await holder.query(`SELECT pg_advisory_lock(${0x63687264}, hashtext('chord'))`);
      let ran = false;
      expect(await backend.withExclusiveCleanup(async () => (ran = true))).toEqual({ ran: false });
      expect(ran).toBe(false);
      await holder.query(`SELECT pg_advisory_unlock(${0x63687264}, hashtext('chord'))`);
      // A pool of one: the lock's session is not taken from it, so the pass still gets a connection.
      expect(await backend.withExclusiveCleanup(() => backend.listContexts())).toEqual({ ran: true, result: [] });
    } finally {
      await backend.close();
      await holder.end();
    }
  });

  test('with cleanupLock: false a pass runs without the lock (for one-session servers), even while another session holds it', async () => {
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    const backend = new PrismaBackend({ connectionString: db.url, poolSize: 1, cleanupLock: false });
    try {
      await holder.query(`SELECT pg_advisory_lock(${0x63687264}, hashtext('chord'))`);
      expect(await backend.withExclusiveCleanup(() => backend.listContexts())).toEqual({ ran: true, result: [] });
    } finally {
      await holder.query(`SELECT pg_advisory_unlock(${0x63687264}, hashtext('chord'))`).catch(() => {});
      await backend.close();
      await holder.end();
    }
  });
});
