// A row lock held by another session, a pool with every connection busy, a cleanup stuck on a
// lock: each ends in a bounded time with an error saying which, never a wait as long as the lock
// and never "the database is unavailable" while it answers. Row locks need two sessions, which
// PGlite (one session) cannot have: those tests run on a PostgreSQL server only.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { Chord } from '../../src/engine/index.js';
import { DEFAULT_STOP_WAIT_MS, CleanupScheduler } from '../../src/engine/cleanup-schedule.js';
import type { CleanupReport } from '../../src/engine/cleanup.js';
import { BackendUnavailableError, PoolExhaustedError, TimeoutError, ValidationError } from '../../src/errors.js';
import { freshSchema, runServerUrl } from './support.js';

const url = runServerUrl();
const NO_SERVER = 'row locks need a second session: PostgreSQL only (set DATABASE_URL); PGlite has one session';

/** Every wait in this file ends by itself; a test that would hang fails here instead. */
const BOUND_MS = 20_000;

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** Polls `check` every 20 ms until it holds, for at most BOUND_MS. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('session timeout options', () => {
  test.each([-1, 1.5, '100', 2 ** 31])('a timeout of %s is refused naming the option', (value) => {
    for (const key of ['statementTimeoutMs', 'lockTimeoutMs']) {
      expect(() => new PrismaBackend({ connectionString: 'postgresql://u@127.0.0.1:1/db', [key]: value } as never)).toThrow(ValidationError);
      expect(() => new PrismaBackend({ connectionString: 'postgresql://u@127.0.0.1:1/db', [key]: value } as never)).toThrow(`config.${key}`);
    }
  });
});

describe('a scheduled cleanup stuck in a run', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  test('stop() resolves within its bound while the run never ends, and stops scheduling', async () => {
    vi.useFakeTimers();
    let runs = 0;
    const stuck = new CleanupScheduler(
      () => {
        runs++;
        return new Promise<CleanupReport>(() => {});
      },
      () => {},
      10,
      {},
      undefined,
      undefined,
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(runs).toBe(1);
    let stopped = false;
    const stopping = stuck.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(DEFAULT_STOP_WAIT_MS - 1);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
  });

  test('stop({ waitMs }) takes its own bound; a bad one is refused', async () => {
    vi.useFakeTimers();
    const stuck = new CleanupScheduler(() => new Promise<CleanupReport>(() => {}), () => {}, 5, {}, undefined, undefined);
    await vi.advanceTimersByTimeAsync(5);
    await expect(stuck.stop({ waitMs: -1 })).rejects.toThrow(ValidationError);
    let stopped = false;
    const stopping = stuck.stop({ waitMs: 50 }).then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(50);
    await stopping;
    expect(stopped).toBe(true);
  });
});

describe.skipIf(url === undefined)(`row locks and a full pool on PostgreSQL${url === undefined ? ` (skipped: ${NO_SERVER})` : ''}`, () => {
  let schema: string;
  let drop: () => Promise<void>;
  let admin: pg.Pool;
  const backends: PrismaBackend[] = [];

  beforeAll(async () => {
    ({ schema, drop } = await freshSchema(url as string));
    admin = new pg.Pool({ connectionString: url, max: 4 });
  });

  afterAll(async () => {
    for (const backend of backends) await backend.close();
    await admin?.end();
    await drop?.();
  });

  function backend(options: { lockTimeoutMs?: number; statementTimeoutMs?: number; poolSize?: number; connectTimeoutMs?: number }): PrismaBackend {
    const made = new PrismaBackend({ connectionString: url as string, schema, ...options });
    backends.push(made);
    return made;
  }

  /**
   * Opens a transaction in another session holding the lock of `contextId`'s context row (or of
   * its delta row at `deltaVersion`); `release()` rolls it back.
   */
  async function holdRowLock(contextId: string, deltaVersion?: number): Promise<{ release: () => Promise<void> }> {
    const session = await admin.connect();
    await session.query('BEGIN');
    const { rowCount } =
      deltaVersion === undefined
        ? await session.query(`SELECT 1 FROM "${schema}".chord_contexts WHERE context_id = $1 FOR UPDATE`, [contextId])
        : await session.query(`SELECT 1 FROM "${schema}".chord_deltas WHERE context_id = $1 AND version = $2 FOR UPDATE`, [contextId, deltaVersion]);
    expect(rowCount, `the row of ${contextId} exists and is locked`).toBe(1);
    // Released whatever happens, so no test can leave the lock behind.
    const guard = setTimeout(() => void session.query('ROLLBACK').catch(() => {}), BOUND_MS);
    return {
      release: async () => {
        clearTimeout(guard);
        await session.query('ROLLBACK');
        session.release();
      },
    };
  }

  /** Sessions of this schema's backends waiting on a lock right now. */
  async function lockWaiters(): Promise<number> {
    const { rows } = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
      [`%"${schema}"%`],
    );
    return Number(rows[0]?.n ?? 0);
  }

  test('a write to a row another session has locked fails after lockTimeoutMs with TimeoutError (lock), and writes nothing', { timeout: BOUND_MS * 2 }, async () => {
    const chord = new Chord({ backend: backend({ lockTimeoutMs: 200 }) });
    await chord.setContext('locked', { n: 1 });
    const lock = await holdRowLock('locked');
    try {
      const error = await rejection(() => chord.updateContext('locked', { n: 2 }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ code: 'timeout', timeout: 'lock', timeoutMs: 200 });
      expect((error as Error).message).toMatch(/updateContext|writeVersion/);
      expect((error as Error).message).toMatch(/"locked"/);
      expect((error as Error).cause).toMatchObject({ code: '55P03' });
    } finally {
      await lock.release();
    }
    expect((await chord.getContext('locked'))?.context).toEqual({ n: 1 });
  });

  test('with no lock timeout, statementTimeoutMs ends the wait with TimeoutError (statement)', { timeout: BOUND_MS * 2 }, async () => {
    const chord = new Chord({ backend: backend({ lockTimeoutMs: 0, statementTimeoutMs: 300 }) });
    await chord.setContext('slow', { n: 1 });
    const lock = await holdRowLock('slow');
    try {
      const error = await rejection(() => chord.setContext('slow', { n: 2 }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ code: 'timeout', timeout: 'statement', timeoutMs: 300 });
      expect((error as Error).cause).toMatchObject({ code: '57014' });
    } finally {
      await lock.release();
    }
  });

  test('every pooled connection busy while the database answers: PoolExhaustedError saying so, not "the database is unavailable"', { timeout: BOUND_MS * 2 }, async () => {
    const chord = new Chord({ backend: backend({ poolSize: 1, connectTimeoutMs: 300, lockTimeoutMs: 10_000 }) });
    await chord.setContext('hog', { n: 1 });
    const lock = await holdRowLock('hog');
    // The pool's one connection waits on the lock…
    const stuck = rejection(() => chord.updateContext('hog', { n: 2 }));
    try {
      await until('the write waits on the lock', async () => (await lockWaiters()) > 0);
      // …so the next call waits for a connection, and the database is fine meanwhile.
      const error = await rejection(() => chord.getContext('other'));
      expect(error).toBeInstanceOf(PoolExhaustedError);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(error).toMatchObject({ code: 'unavailable', busy: 1, waitedMs: 300 });
      expect((error as Error).message).toMatch(/pool exhausted \(1 connection busy\)/);
      expect((error as Error).message).not.toMatch(/the database is unavailable/);
      expect((await admin.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
    } finally {
      await lock.release();
    }
    expect(await stuck).toBeUndefined();
    expect((await chord.getContext('hog'))?.context).toEqual({ n: 2 });
  });

  test('stop() of a cleanup stuck on a row lock returns before the run ends; the run then ends by the lock timeout and reports it', { timeout: BOUND_MS * 2 }, async () => {
    let now = 1_000;
    const clock = (): number => now;
    const slow = new PrismaBackend({ connectionString: url as string, schema, clock, lockTimeoutMs: 3_000 });
    backends.push(slow);
    const chord = new Chord({ backend: slow, clock, deltaTtl: 10 });
    await chord.setContext('aged', { n: 1 });
    now += 1_000; // its delta is past deltaTtl: the cleanup's delta step deletes it, and waits on its lock
    const lock = await holdRowLock('aged', 1);
    const errors: unknown[] = [];
    const reports: CleanupReport[] = [];
    try {
      const schedule = chord.startCleanup({ intervalMs: 1, onError: (e) => errors.push(e), onReport: (r) => reports.push(r) });
      await until('the cleanup waits on the lock', async () => (await lockWaiters()) > 0);
      await schedule.stop({ waitMs: 200 });
      // stop() came back while the run is still blocked: nothing reported yet, the row still locked.
      expect(errors).toEqual([]);
      expect(reports).toEqual([]);
      expect(await lockWaiters()).toBeGreaterThan(0);
      await until('the stuck run reports its lock timeout', async () => errors.length > 0);
      expect(errors[0]).toBeInstanceOf(TimeoutError);
      expect(errors[0]).toMatchObject({ timeout: 'lock', timeoutMs: 3_000 });
    } finally {
      await lock.release();
    }
  });
});
