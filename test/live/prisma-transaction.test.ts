/**
 * Issue 18, point 2: a write made inside the app's own Prisma transaction (`{ prisma: tx }`, the
 * recipe of docs/prisma.md) sends its change notice inside that transaction, so PostgreSQL
 * delivers it when the transaction commits and drops it when it rolls back. Watchers on another
 * session (another process, on a server; PGlite's listen() in process) see a commit and nothing
 * of a rollback. Before, the notice went out after the transaction had closed, failed
 * ("Transaction already closed") and was swallowed: watchers waited forever.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { describe, expect, onTestFinished, test } from 'vitest';
import { PrismaBackend, migrate, pglitePool } from '../../src/backends/prisma/index.js';
import { PrismaClient } from '../../src/backends/prisma/generated/client.js';
import { notifyChannel } from '../../src/backends/prisma/notifications.js';
import { Chord } from '../../src/engine/chord.js';
import type { LiveUpdate } from '../../src/live/index.js';
import { nextUpdate } from '../../src/testing/index.js';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, noServerReason, skipNote } from '../support/targets.js';
import { startLineProcess } from './line-process.js';

const WRITER = fileURLToPath(new URL('./fixtures/tx-writer.mjs', import.meta.url));
const UPDATE_MS = 15_000;
const server = serverUrl(databaseChoice());

type TxWrite = (outcome: 'commit' | 'rollback', n: number) => Promise<number>;

/**
 * The law both targets must show: a rolled-back write reaches no watcher and sends no notice; a
 * committed one reaches the watcher as the next update, and its notice is the only one sent.
 */
async function commitAndRollback(chord: Chord, contextId: string, write: TxWrite, pokes: string[]): Promise<void> {
  const first = (await chord.getContext(contextId)) ?? undefined;
  expect(first?.version).toBe(1);
  const watch = chord.watch(contextId, { version: 1, epoch: first?.epoch as string });
  onTestFinished(() => void watch.return?.());
  const next = nextUpdate(watch as AsyncIterator<LiveUpdate>, UPDATE_MS, 'the committed write');
  // Written inside the transaction as version 2, then rolled back: nothing of it may show.
  expect(await write('rollback', -1)).toBe(2);
  expect(await write('commit', 42)).toBe(2);
  const update = await next;
  expect(update).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
  expect(await chord.getContext(contextId)).toMatchObject({ version: 2, context: { n: 42 } });
  // Notices arrive in commit order: the commit's is here, so one sent by the rollback would be too.
  expect(pokes).toEqual([JSON.stringify([contextId, 2])]);
}

describe('a write in the app\'s Prisma transaction ({ prisma: tx }) notifies on commit only', () => {
  test('PGlite: a watcher listening through PGlite sees the commit, and nothing of the rollback', { timeout: 60_000 }, async () => {
    const db = await PGlite.create();
    onTestFinished(() => db.close());
    const schema = `chord_tx_${randomBytes(4).toString('hex')}`;
    await migrate({ pool: pglitePool(db) }, { schema });
    const pokes: string[] = [];
    // Quoted, as the backend's own listen() does (the channel holds a ':'); closing the database ends it.
    await db.listen(`"${notifyChannel(schema)}"`, (payload) => pokes.push(payload));
    const watching = new PrismaBackend({ adapter: new PrismaPGlite(db), listen: db, schema });
    onTestFinished(() => watching.close());
    const chord = new Chord({ backend: watching });
    await chord.setContext('order:1', { n: 0 });
    // Notices of the set above come first; only what the transactions send is counted.
    await new Promise((resolve) => setTimeout(resolve, 50));
    pokes.length = 0;
    const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
    onTestFinished(() => prisma.$disconnect());
    const write: TxWrite = async (outcome, n) => {
      let version = 0;
      const done = prisma.$transaction(async (tx) => {
        const inTx = new Chord({ backend: new PrismaBackend({ prisma: tx, schema }) });
        version = (await inTx.setContext('order:1', { n })).context.version;
        if (outcome === 'rollback') throw new Error('the app changes its mind');
      });
      if (outcome === 'rollback') await expect(done).rejects.toThrow('the app changes its mind');
      else await done;
      return version;
    };
    await commitAndRollback(chord, 'order:1', write, pokes);
  });

  describe.skipIf(server === undefined)(`PostgreSQL: the transactions run in another process${skipNote(noServerReason())}`, () => {
    test('watchers here see the commit, and nothing of the rollback', { timeout: 90_000 }, async () => {
      const url = server ?? '';
      const schema = `chord_tx_${randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      onTestFinished(async () => {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      });
      await migrate({ connectionString: url }, { schema });
      const pokes: string[] = [];
      const listener = new pg.Client({ connectionString: url });
      await listener.connect();
      onTestFinished(() => listener.end());
      listener.on('notification', (message) => {
        if (message.payload !== undefined) pokes.push(message.payload);
      });
      await listener.query(`LISTEN "${notifyChannel(schema)}"`);
      const watching = new PrismaBackend({ connectionString: url, schema, poolSize: 2 });
      onTestFinished(() => watching.close());
      const chord = new Chord({ backend: watching });
      const id = `order:${randomBytes(4).toString('hex')}`;
      await chord.setContext(id, { n: 0 });
      await watching.close(); // its batched poke of the set goes out before the pool closes
      const watcher = new Chord({ backend: new PrismaBackend({ connectionString: url, schema, poolSize: 2 }) });
      onTestFinished(() => (watcher.backend as PrismaBackend).close());
      await new Promise((resolve) => setTimeout(resolve, 100));
      pokes.length = 0;
      const writer = await startWriter(url, schema, id);
      onTestFinished(() => writer.stop());
      await commitAndRollback(watcher, id, (outcome, n) => writer.send(`${outcome} ${n}`), pokes);
    });
  });
});

async function startWriter(url: string, schema: string, contextId: string): Promise<{ send(command: string): Promise<number>; stop(): Promise<void> }> {
  const dist = process.env.CHORD_TEST_DIST ?? ((await ensureBuilt()), join(REPO_ROOT, 'dist'));
  const child = await startLineProcess(WRITER, JSON.stringify({ dist, url, schema, contextId }), UPDATE_MS, 'transaction writer');
  return {
    send: async (command) => Number((await child.ask(command, 'done')).split(' ')[1]),
    stop: () => child.stop(),
  };
}
