// An unreachable database is reported, never waited on forever: a refused port and a server that
// accepts but never answers both give BackendUnavailableError within the connect timeout. A
// dropped pooled connection (pg_terminate_backend) never crashes the process, and the next call
// works on the same backend.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { Chord } from '../../src/engine/index.js';
import { BackendUnavailableError, ChordError } from '../../src/errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, PrismaBackend, migrate } from '../../src/backends/prisma/index.js';
import type { DisposablePostgres } from '../support/disposable-postgres.js';
import { expectUnavailable, refusedPort, silentServer } from '../support/unreachable.js';
import { freshSchema, missingBinaries, startServer } from './support.js';

/** Every backend method, called with valid arguments. */
function everyMethod(backend: PrismaBackend): Array<[string, () => Promise<unknown>]> {
  return [
    ['setContext', () => backend.setContext('a', { x: 1 }, 1)],
    ['getContext', () => backend.getContext('a')],
    ['deleteContext', () => backend.deleteContext('a')],
    ['setDelta', () => backend.setDelta('a', {}, 1)],
    ['getDeltas', () => backend.getDeltas('a', 0)],
    ['deleteDeltasForContext', () => backend.deleteDeltasForContext('a')],
    ['deleteDeltasByTime', () => backend.deleteDeltasByTime('a', 1)],
    ['deleteDeltasExceedingThreshold', () => backend.deleteDeltasExceedingThreshold('a', 1)],
    ['listContexts', () => backend.listContexts()],
    ['listContextsWithDeltaCounts', () => backend.listContextsWithDeltaCounts()],
    ['listDeltas', () => backend.listDeltas()],
    ['writeVersion', () => backend.writeVersion('a', { x: 1 }, {}, 0)],
    ['readForSync', () => backend.readForSync('a', 0, 10)],
    ['restoreVersion', () => backend.restoreVersion('a', { x: 1 }, 2)],
    ['deleteIdleContexts', () => backend.deleteIdleContexts(1, 10)],
    ['deleteDeltasOlderThan', () => backend.deleteDeltasOlderThan(1, 10)],
    ['deleteDeltasBeyondNewest', () => backend.deleteDeltasBeyondNewest(1, 10)],
  ];
}

describe('an unreachable database', () => {
  test(`a backend given no connectTimeoutMs gives up on a silent server after the default ${DEFAULT_CONNECT_TIMEOUT_MS} ms, not before`, async () => {
    expect(DEFAULT_CONNECT_TIMEOUT_MS).toBeLessThanOrEqual(10_000);
    const silent = await silentServer();
    const backend = new PrismaBackend({ connectionString: silent.url });
    // Fake timers for the connect timer only; the socket itself is real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let settled: unknown = 'pending';
      const call = backend.getContext('a').then(
        () => 'resolved',
        (error: unknown) => error,
      );
      void call.then((outcome) => (settled = outcome));
      // The connection reaches the server (a real socket) and its timer is set.
      for (let i = 0; i < 200 && silent.accepted() === 0; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(silent.accepted(), 'the call reached the silent server').toBeGreaterThan(0);
      await vi.advanceTimersByTimeAsync(DEFAULT_CONNECT_TIMEOUT_MS - 1);
      expect(settled, 'still waiting 1 ms before the default timeout').toBe('pending');
      await vi.advanceTimersByTimeAsync(1);
      await expectUnavailable(call.then((outcome) => Promise.reject(outcome)), 'getContext on a silent server');
    } finally {
      vi.useRealTimers();
      await backend.close();
      await silent.close();
    }
  });

  test('a refused port: every backend method, the engine and migrate reject with BackendUnavailableError', async () => {
    const url = `postgresql://postgres@127.0.0.1:${await refusedPort()}/postgres`;
    const backend = new PrismaBackend({ connectionString: url, connectTimeoutMs: 2_000 });
    try {
      const started = performance.now();
      for (const [name, call] of everyMethod(backend)) {
        const error = await expectUnavailable(call, name);
        expect(error.message).toContain(name);
      }
      console.log(`reliability figures: refused port: ${JSON.stringify({ calls: everyMethod(backend).length, totalMs: Math.round(performance.now() - started) })}`);
      const chord = new Chord({ backend });
      await expectUnavailable(() => chord.setContext('a', { x: 1 }), 'Chord.setContext');
      await expectUnavailable(() => chord.syncContext('a', 0), 'Chord.syncContext');
      await expectUnavailable(() => chord.cleanup(), 'Chord.cleanup');
      await expectUnavailable(() => migrate({ connectionString: url, connectTimeoutMs: 2_000 }), 'migrate');
    } finally {
      await backend.close();
    }
  });

  test('a server that accepts and never answers: every call rejects with BackendUnavailableError once the configured connect timeout passes', async () => {
    const silent = await silentServer();
    const url = `postgresql://postgres@127.0.0.1:${silent.port}/postgres`;
    const backend = new PrismaBackend({ connectionString: url, connectTimeoutMs: 300, poolSize: 2 });
    try {
      // Concurrently, so calls also queue for the pool's two connections while they hang.
      const started = performance.now();
      const settledMs: number[] = [];
      const results = await Promise.allSettled(
        everyMethod(backend).map(([, call]) => call().finally(() => settledMs.push(performance.now() - started))),
      );
      // A figure for docs/reliability.md, not an assertion (timing depends on the machine's load).
      console.log(`reliability figures: silent server: ${JSON.stringify({ connectTimeoutMs: 300, calls: settledMs.length, firstSettledMs: Math.round(Math.min(...settledMs)), lastSettledMs: Math.round(Math.max(...settledMs)) })}`);
      for (const [i, result] of results.entries()) {
        const name = everyMethod(backend)[i]?.[0];
        expect(result.status, `${name} settles as a rejection`).toBe('rejected');
        expect((result as PromiseRejectedResult).reason, `${name}`).toBeInstanceOf(BackendUnavailableError);
      }
      expect(silent.accepted(), 'the calls did reach the silent server').toBeGreaterThan(0);
      const chord = new Chord({ backend });
      await expectUnavailable(() => chord.updateContext('a', { x: 2 }), 'Chord.updateContext');
      await expectUnavailable(() => migrate({ connectionString: url, connectTimeoutMs: 300 }), 'migrate');
    } finally {
      await backend.close();
      await silent.close();
    }
  }, 30_000);
});

describe.skipIf(missingBinaries !== undefined)(`dropped connections on a disposable server${missingBinaries ? ` (skipped: ${missingBinaries})` : ''}`, () => {
  let server: DisposablePostgres;
  let admin: pg.Pool;

  beforeAll(async () => {
    server = (await startServer()) as DisposablePostgres;
    admin = new pg.Pool({ connectionString: server.url, max: 2, application_name: 'reliability-admin' });
    admin.on('error', () => {});
  });

  afterAll(async () => {
    await admin?.end();
    server?.dispose();
  });

  /** The backend's sessions are named, so the admin can find exactly them. */
  const backendUrl = (): string => `${server.url}?application_name=chord-backend`;

  /** Terminates every session of the backend under test; returns how many. */
  async function terminateBackendSessions(): Promise<number> {
    const { rows } = await admin.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = 'chord-backend'`,
    );
    return Number(rows[0]?.n ?? 0);
  }

  test('terminating idle pooled connections does not crash the process; the pool reports them and the next calls work', async () => {
    const { schema, drop } = await freshSchema(server.url);
    const poolErrors: Error[] = [];
    const backend = new PrismaBackend({ connectionString: backendUrl(), schema, poolSize: 4, onPoolError: (e) => poolErrors.push(e) });
    try {
      const chord = new Chord({ backend });
      // Open several connections.
      await Promise.all([0, 1, 2, 3].map((i) => chord.setContext(`c${i}`, { i })));
      await Promise.all([backend.listContexts(), backend.listDeltas(), backend.getContext('c0'), backend.getDeltas('c1', 0)]);
      const terminated = await terminateBackendSessions();
      expect(terminated).toBeGreaterThan(0);
      for (let i = 0; i < 100 && poolErrors.length < terminated; i++) await sleep(20);
      expect(poolErrors.length, 'every terminated idle client was reported through onPoolError').toBe(terminated);
      // Same backend, same process: the pool has dropped the dead clients and connects anew.
      expect((await chord.updateContext('c0', { after: true })).context.version).toBe(2);
      expect((await backend.listContexts()).map((r) => r.contextId)).toEqual(['c0', 'c1', 'c2', 'c3']);
      expect((await chord.syncContext('c0', 1)).kind).toBe('delta');
    } finally {
      await backend.close();
      await drop();
    }
  });

  test('with no onPoolError given, terminated idle connections are still absorbed, not thrown', async () => {
    const { schema, drop } = await freshSchema(server.url);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    const backend = new PrismaBackend({ connectionString: backendUrl(), schema, poolSize: 3 });
    try {
      await Promise.all([0, 1, 2].map((i) => backend.setContext(`c${i}`, { i }, 1)));
      expect(await terminateBackendSessions()).toBeGreaterThan(0);
      await sleep(300); // let the terminations arrive on the idle sockets
      expect(uncaught).toEqual([]);
      expect((await backend.getContext('c2'))?.context).toEqual({ i: 2 });
    } finally {
      process.off('uncaughtException', onUncaught);
      await backend.close();
      await drop();
    }
  });

  test('a connection terminated in the middle of a statement: that call gets BackendUnavailableError, the next succeeds', async () => {
    const { schema, drop } = await freshSchema(server.url);
    const backend = new PrismaBackend({ connectionString: backendUrl(), schema, poolSize: 2 });
    const locker = await admin.connect();
    try {
      const chord = new Chord({ backend });
      await chord.setContext('held', { n: 0 });
      // Hold the row lock so the engine's compare-and-set waits inside the server.
      await locker.query('BEGIN');
      await locker.query(`SELECT * FROM "${schema}".chord_contexts WHERE context_id = 'held' FOR UPDATE`);
      const blocked = chord.updateContext('held', { n: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      // Wait until the write is really waiting on the lock, then cut its connection.
      for (let i = 0; i < 200; i++) {
        const { rows } = await admin.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
        if (rows.length > 0) break;
        await sleep(10);
      }
      const { rows } = await admin.query<{ n: string }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`,
      );
      expect(Number(rows[0]?.n)).toBe(1);
      const error = await blocked;
      expect(error).toBeInstanceOf(ChordError);
      expect((error as ChordError).code).toBe('unavailable');
      await locker.query('ROLLBACK');
      // Nothing was half written, and the same engine writes on.
      expect((await chord.getContext('held'))?.version).toBe(1);
      expect((await backend.getDeltas('held', 0)).map((d) => d.version), 'no delta 2 without its context').toEqual([1]);
      expect((await chord.updateContext('held', { n: 2 })).context.version).toBe(2);
      expect((await backend.getDeltas('held', 0)).map((d) => d.version)).toEqual([1, 2]);
    } finally {
      locker.release();
      await backend.close();
      await drop();
    }
  });
});
