// An unreachable, silent or dropped database: typed errors within the connect timeout, never a
// hang, never a crash.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PrismaBackend, migrate } from '../../../src/backends/prisma/index.js';
import { createRunDatabase, serverUrl } from '../../support/database.js';
import { databaseChoice, noServerReason, skipNote } from '../../support/targets.js';
import { type SilentServer, expectUnavailable, refusedUrl, silentServer } from '../../support/unreachable.js';

/** A stuck database: accepts connections and never answers. */
let silent: SilentServer;
let silentUrl = '';
beforeAll(async () => {
  silent = await silentServer();
  silentUrl = silent.url;
});
afterAll(async () => {
  await silent.close();
});

describe('PrismaBackend without a database', () => {
  test('connection refused: reads, writes, listing and cleanup throw BackendUnavailableError', async () => {
    const backend = new PrismaBackend({ connectionString: await refusedUrl(), connectTimeoutMs: 2_000 });
    try {
      await expectUnavailable(backend.getContext('a'));
      await expectUnavailable(backend.writeVersion('a', { x: 1 }, { d: 1 }, 0));
      await expectUnavailable(backend.listContexts());
      await expectUnavailable(backend.deleteDeltasOlderThan(0, 10));
    } finally {
      await backend.close();
    }
  });

  test('a server that never answers: BackendUnavailableError once connectTimeoutMs passes, not a hang', async () => {
    const backend = new PrismaBackend({ connectionString: silentUrl, connectTimeoutMs: 300 });
    try {
      const error = await expectUnavailable(backend.getContext('a'));
      expect(error.message).toMatch(/PrismaBackend\.getContext\("a"\): the database is unavailable/);
      await expectUnavailable(backend.listContextsWithDeltaCounts());
    } finally {
      await backend.close();
    }
  });

  test('migrate on an unreachable or silent server: BackendUnavailableError', async () => {
    await expectUnavailable(migrate({ connectionString: await refusedUrl(), connectTimeoutMs: 2_000 }));
    await expectUnavailable(migrate({ connectionString: silentUrl, connectTimeoutMs: 300 }));
  });

  test('a call after close() fails with BackendUnavailableError', async () => {
    const backend = new PrismaBackend({ connectionString: await refusedUrl() });
    await backend.close();
    await expectUnavailable(backend.getContext('a'));
  });
});

const url = serverUrl(databaseChoice());
const noServer = noServerReason();
describe('PrismaBackend when the server drops its connections', () => {
    test.skipIf(noServer !== undefined)(`an idle pooled connection killed by the server is reported, not fatal, and the next call reconnects${skipNote(noServer)}`, async () => {
      // A database of its own, so killing its sessions touches no other test.
      const db = await createRunDatabase(url as string);
      await migrate({ connectionString: db.url });
      const poolErrors: Error[] = [];
      let reported!: () => void;
      const errorSeen = new Promise<void>((resolve) => (reported = resolve));
      const backend = new PrismaBackend({
        connectionString: db.url,
        poolSize: 2,
        onPoolError: (error) => {
          poolErrors.push(error);
          reported();
        },
      });
      const admin = new pg.Client({ connectionString: url as string });
      await admin.connect();
      try {
        await backend.setContext('a', { n: 1 }, 1);
        expect(await backend.getContext('a')).toMatchObject({ version: 1 });
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [
          new URL(db.url).pathname.slice(1),
        ]);
        await errorSeen;
        expect(poolErrors.length).toBeGreaterThan(0);
        expect(await backend.getContext('a')).toMatchObject({ contextId: 'a', version: 1 });
      } finally {
        await admin.end();
        await backend.close();
        await db.drop();
      }
    });
  });
