// PrismaBackend on every Prisma target (the run's PostgreSQL through its own pool and through a
// caller's Prisma client, and PGlite): what is specific to SQL storage. The shared conformance suite runs below as well.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { BackendUnavailableError, ConfigurationError, ValidationError, VersionConflictError } from '../../../src/errors.js';
import { PrismaBackend, migrate } from '../../../src/backends/prisma/index.js';
import { manualClock } from '../../../src/testing/harness.js';
import { serverUrl } from '../../support/database.js';
import { runBackendConformance } from '../../../src/testing/index.js';
import { databaseChoice, noServerReason, prismaTargets, skipNote, type PrismaTarget } from '../../support/targets.js';
import { forTarget } from '../../support/named.js';

async function withBackend(target: PrismaTarget, fn: (backend: PrismaBackend, clock: ReturnType<typeof manualClock>) => Promise<void>): Promise<void> {
  const clock = manualClock();
  const backend = await target.harness.makeBackend({ clock });
  try {
    await fn(backend, clock);
  } finally {
    await target.harness.dispose?.(backend);
  }
}

async function rowCounts(target: PrismaTarget, backend: PrismaBackend): Promise<{ contexts: number; deltas: number }> {
  const schema = target.inspector.schemaOf(backend);
  const [row] = await target.inspector.query<{ contexts: unknown; deltas: unknown }>(
    `SELECT (SELECT count(*) FROM "${schema}".chord_contexts) AS contexts, (SELECT count(*) FROM "${schema}".chord_deltas) AS deltas`,
  );
  return { contexts: Number(row?.contexts), deltas: Number(row?.deltas) };
}

for (const target of prismaTargets({ withSkipped: true })) {
  describe.skipIf(target.skip !== undefined)(`${target.label}${skipNote(target.skip)}`, () => {
    const { test } = forTarget(target.label);
    runBackendConformance({ describe, test }, target.harness);

    test('versions and timestamps are 64-bit columns that come back as exact numbers', async () => {
      await withBackend(target, async (backend, clock) => {
        clock.set(Number.MAX_SAFE_INTEGER - 1);
        await backend.setContext('big', { a: 1 }, Number.MAX_SAFE_INTEGER);
        await backend.setDelta('big', { d: 1 }, Number.MAX_SAFE_INTEGER);
        expect(await backend.getContext('big')).toEqual({
          contextId: 'big', context: { a: 1 }, version: Number.MAX_SAFE_INTEGER, insertedAt: Number.MAX_SAFE_INTEGER - 1, epoch: expect.any(String),
        });
        const [delta] = await backend.getDeltas('big', Number.MAX_SAFE_INTEGER - 1);
        expect(typeof delta?.version).toBe('number');
        expect(delta?.version).toBe(Number.MAX_SAFE_INTEGER);
        const [count] = await backend.listContextsWithDeltaCounts();
        expect(count).toEqual({ contextId: 'big', count: 1 });
      });
    });

    test('ids are ordered by their UTF-8 bytes, not UTF-16 code units, in both directions', async () => {
      await withBackend(target, async (backend) => {
        // U+E000 is EE 80 80 in UTF-8, before the F0… of U+1F600; in UTF-16 the surrogate D83D sorts first.
        const ids = ['\u{1F600}', '\uE000', 'z', 'Z', 'é', 'a b', 'a%', 'a_'];
        for (const id of ids) {
          await backend.setContext(id, {}, 1);
          await backend.setDelta(id, {}, 1);
        }
        const byBytes = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        expect((await backend.listContexts()).map((r) => r.contextId)).toEqual(byBytes);
        expect((await backend.listContexts({ order: 'desc' })).map((r) => r.contextId)).toEqual([...byBytes].reverse());
        expect((await backend.listDeltas()).map((r) => r.contextId)).toEqual(byBytes);
        expect((await backend.listContextsWithDeltaCounts({ order: 'desc', limit: 3 })).map((r) => r.contextId)).toEqual(
          [...byBytes].reverse().slice(0, 3),
        );
      });
    });

    test('listContextsWithDeltaCounts counts the filtered deltas per id and pages the groups', async () => {
      await withBackend(target, async (backend, clock) => {
        for (const id of ['a', 'b', 'c', 'd']) {
          for (let v = 1; v <= 3; v++) {
            await backend.setDelta(id, { v }, v);
            clock.advance(10);
          }
        }
        expect(await backend.listContextsWithDeltaCounts()).toEqual(['a', 'b', 'c', 'd'].map((contextId) => ({ contextId, count: 3 })));
        expect(await backend.listContextsWithDeltaCounts({ version: 2, offset: 1, limit: 2 })).toEqual([
          { contextId: 'b', count: 1 },
          { contextId: 'c', count: 1 },
        ]);
        // Deltas of 'c' were written at 1_000_060..80, 'd' at 90..110: a cut at 1_000_080 keeps one of c, all of d.
        expect(await backend.listContextsWithDeltaCounts({ insertedAt: 1_000_080 })).toEqual([
          { contextId: 'c', count: 1 },
          { contextId: 'd', count: 3 },
        ]);
      });
    });

    test('writeVersion writes context and delta together and refuses a stale expected version', async () => {
      await withBackend(target, async (backend) => {
        const first = await backend.writeVersion('w', { n: 1 }, { d: 1 }, 0);
        expect(first.context.version).toBe(1);
        expect(first.delta).toMatchObject({ contextId: 'w', version: 1, delta: { d: 1 } });
        await backend.writeVersion('w', { n: 2 }, { d: 2 }, 1);

        const stale = backend.writeVersion('w', { n: 99 }, { d: 99 }, 1);
        await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
        await expect(stale).rejects.toMatchObject({ contextId: 'w', expectedVersion: 1, actualVersion: 2 });
        await expect(backend.writeVersion('missing', {}, { d: 1 }, 3)).rejects.toMatchObject({ code: 'conflict', actualVersion: 0 });
        await expect(backend.writeVersion('w', {}, { d: 1 }, 0)).rejects.toMatchObject({ code: 'conflict', actualVersion: 2 });

        expect((await backend.getContext('w'))?.context).toEqual({ n: 2 });
        expect((await backend.getDeltas('w', 0)).map((d) => d.delta)).toEqual([{ d: 1 }, { d: 2 }]);
        expect(await rowCounts(target, backend)).toEqual({ contexts: 1, deltas: 2 });
      });
    });

    test('concurrent writeVersion calls on one expected version: exactly one wins, the rest conflict', async () => {
      await withBackend(target, async (backend) => {
        await backend.writeVersion('race', { n: 0 }, { d: 0 }, 0);
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => backend.writeVersion('race', { n: i }, { d: i }, 1)),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        for (const r of lost) expect(r.reason).toBeInstanceOf(VersionConflictError);
        expect((await backend.getContext('race'))?.version).toBe(2);
        expect(await rowCounts(target, backend)).toEqual({ contexts: 1, deltas: 2 });
      });
    });

    test('bad input is refused before any statement and nothing is written', async () => {
      await withBackend(target, async (backend) => {
        await expect(backend.setContext('', {}, 1)).rejects.toMatchObject({ argument: 'contextId' });
        await expect(backend.setContext('x', { a: undefined } as never, 1)).rejects.toBeInstanceOf(ValidationError);
        await expect(backend.setDelta('x', {}, -1)).rejects.toMatchObject({ argument: 'version' });
        await expect(backend.writeVersion('x', {}, { d: 1n } as never, 0)).rejects.toMatchObject({ argument: 'delta.d' });
        await expect(backend.listDeltas({ limit: -1 })).rejects.toMatchObject({ argument: 'options.limit' });
        await expect(backend.deleteDeltasOlderThan(0, 0)).rejects.toMatchObject({ argument: 'batchSize' });
        expect(await rowCounts(target, backend)).toEqual({ contexts: 0, deltas: 0 });
      });
    });

    test('deleteDeltasOlderThan removes at most a batch of expired deltas across contexts', async () => {
      await withBackend(target, async (backend, clock) => {
        for (const id of ['a', 'b', 'c']) {
          for (let v = 1; v <= 4; v++) await backend.setDelta(id, {}, v);
        }
        clock.advance(100);
        await backend.setDelta('a', {}, 5);
        expect(await backend.deleteDeltasOlderThan(clock(), 5)).toBe(5);
        expect(await backend.deleteDeltasOlderThan(clock(), 5)).toBe(5);
        expect(await backend.deleteDeltasOlderThan(clock(), 5)).toBe(2);
        expect((await backend.listDeltas()).map((d) => [d.contextId, d.version])).toEqual([['a', 5]]);
      });
    });

    test('deleteDeltasBeyondNewest keeps the newest N of every context, a batch at a time', async () => {
      await withBackend(target, async (backend) => {
        for (let v = 1; v <= 5; v++) await backend.setDelta('a', {}, v);
        for (let v = 1; v <= 3; v++) await backend.setDelta('b', {}, v);
        await backend.setDelta('c', {}, 7);
        expect(await backend.deleteDeltasBeyondNewest(2, 2)).toBe(2);
        expect(await backend.deleteDeltasBeyondNewest(2, 2)).toBe(2);
        expect(await backend.deleteDeltasBeyondNewest(2, 2)).toBe(0);
        expect((await backend.listDeltas()).map((d) => `${d.contextId}${d.version}`)).toEqual(['a4', 'a5', 'b2', 'b3', 'c7']);
        expect(await backend.deleteDeltasBeyondNewest(0, 100)).toBe(5);
      });
    });

    test('deleteIdleContexts removes idle contexts with all their deltas and leaves recent ones', async () => {
      await withBackend(target, async (backend, clock) => {
        await backend.writeVersion('old1', {}, { d: 1 }, 0);
        await backend.writeVersion('old1', { a: 1 }, { d: 2 }, 1);
        await backend.writeVersion('old2', {}, { d: 1 }, 0);
        clock.advance(1000);
        await backend.writeVersion('new', {}, { d: 1 }, 0);
        expect(await backend.deleteIdleContexts(clock(), 1)).toEqual({ contexts: 1, deltas: 2 });
        expect(await backend.deleteIdleContexts(clock(), 10)).toEqual({ contexts: 1, deltas: 1 });
        expect(await backend.deleteIdleContexts(clock(), 10)).toEqual({ contexts: 0, deltas: 0 });
        expect((await backend.listContexts()).map((c) => c.contextId)).toEqual(['new']);
        expect(await rowCounts(target, backend)).toEqual({ contexts: 1, deltas: 1 });
      });
    });

    test('a schema without the tables fails with ConfigurationError (not_provisioned) saying to migrate', async () => {
      await withBackend(target, async (backend) => {
        await target.inspector.query(`DROP TABLE "${target.inspector.schemaOf(backend)}".chord_contexts`);
        const error = await backend.getContext('a').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigurationError);
        expect(error).toMatchObject({ code: 'misconfigured', problem: 'not_provisioned' });
        expect((error as Error).message).toMatch(/chord-sync migrate/);
        expect((error as Error).cause).toBeDefined();
      });
    });

    // The backend's own pool (connectionString) is ended by close(); a caller's Prisma client is not.
    const ownsPool = target.name === 'prisma/postgres' || target.name === 'prisma/pglite-socket';
    const callerClient = target.name === 'prisma/postgres-client';
    test(`close() twice: both resolve${ownsPool ? ', and a call after it fails with BackendUnavailableError' : callerClient ? ", and the caller's client still serves calls" : ''}`, async () => {
      const backend = await target.harness.makeBackend({ clock: manualClock() });
      try {
        await backend.setContext('kept', { a: 1 }, 1);
        const first = backend.close();
        const second = backend.close();
        await expect(first).resolves.toBeUndefined();
        await expect(second).resolves.toBeUndefined();
        await expect(backend.close()).resolves.toBeUndefined();
        if (ownsPool) {
          const error = await backend.getContext('kept').catch((e: unknown) => e);
          expect(error).toBeInstanceOf(BackendUnavailableError);
          expect((error as Error).message).toContain('getContext');
        }
        if (callerClient) expect(await backend.getContext('kept')).toMatchObject({ contextId: 'kept', version: 1, context: { a: 1 } });
      } finally {
        await target.harness.dispose?.(backend);
      }
    });
  });
}

describe('PrismaBackend config', () => {
  test('exactly one of connectionString, prisma or adapter, and each option of its type; else ValidationError naming it', () => {
    const url = 'postgresql://postgres@127.0.0.1:1/none';
    const fakeClient = { $queryRawUnsafe: async () => [], $executeRawUnsafe: async () => 0 };
    const cases: Array<[unknown, string]> = [
      [undefined, 'config'],
      [null, 'config'],
      [{}, 'config'],
      [{ connectionString: url, prisma: fakeClient }, 'config'],
      [{ connectionString: '' }, 'config.connectionString'],
      [{ connectionString: 5 }, 'config.connectionString'],
      [{ prisma: {} }, 'config.prisma'],
      [{ adapter: 5 }, 'config.adapter'],
      [{ connectionString: url, clock: 1 }, 'config.clock'],
      [{ connectionString: url, schema: '' }, 'config.schema'],
      [{ connectionString: url, schema: 's'.repeat(64) }, 'config.schema'],
      [{ connectionString: url, schema: 'a\u0000b' }, 'config.schema'],
      [{ connectionString: url, connectTimeoutMs: 0 }, 'config.connectTimeoutMs'],
      [{ connectionString: url, poolSize: 1.5 }, 'config.poolSize'],
      [{ connectionString: url, onPoolError: 'log' }, 'config.onPoolError'],
      [{ connectionString: url, cleanupLock: 'no' }, 'config.cleanupLock'],
      [{ prisma: fakeClient, cleanupLock: false }, 'config.cleanupLock'],
    ];
    for (const [config, argument] of cases) {
      expect(() => new PrismaBackend(config as never), JSON.stringify(config)).toThrow(ValidationError);
      try {
        new PrismaBackend(config as never);
      } catch (error) {
        expect((error as ValidationError).argument, JSON.stringify(config)).toBe(argument);
      }
    }
  });
});

const server = serverUrl(databaseChoice());
const noServer = noServerReason();

// Only with a server: counting sessions needs pg_stat_activity, which PGlite's one session has not.
describe('PrismaBackend close() on a PostgreSQL server', () => {
  test.skipIf(noServer !== undefined)(`close() ends every connection of the pool the backend made${skipNote(noServer)}`, async () => {
    const app = `chord_close_${randomBytes(4).toString('hex')}`;
    const url = new URL(server as string);
    url.searchParams.set('application_name', app);
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    const sessions = async () =>
      Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0]?.n);
    const schema = app;
    try {
      await migrate({ connectionString: server as string }, { schema });
      const backend = new PrismaBackend({ connectionString: url.toString(), schema, poolSize: 3 });
      // Concurrent calls that succeed leave their connections idle in the pool (a failed one is dropped).
      await Promise.all([0, 1, 2].map((i) => backend.getContext(`c${i}`)));
      expect(await sessions()).toBeGreaterThan(0);
      await backend.close();
      // The server ends a session just after its client hangs up: wait for it, a bounded while.
      for (let i = 0; i < 100 && (await sessions()) > 0; i++) await sleep(50);
      expect(await sessions()).toBe(0);
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });
});
