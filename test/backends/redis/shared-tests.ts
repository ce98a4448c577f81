// Tests run on both the local Redis and the Cluster: hostile ids, change notices, dropped connections.
import { strict as assert } from 'node:assert';
import { createClient } from 'redis';
import { expect } from 'vitest';
import type { ChangeNotice } from '../../../src/backend.js';
import type { RedisBackend } from '../../../src/backends/redis/index.js';
import { BackendUnavailableError, ChordError } from '../../../src/errors.js';
import { Chord } from '../../../src/engine/chord.js';
import { manualClock } from '../../../src/testing/harness.js';
import type { TargetSuite } from '../../support/named.js';

/** Ids a key-pattern or hash-tag scheme could get wrong: braces, glob characters, separators, non-ASCII. */
export const HOSTILE_IDS: readonly string[] = [
  '{', '}', '{}', '{a}', 'a{b}c', '}{', '*', 'a*', '?', '[ab]', ':', 'a:b', '::', 'a\\*', '\\', ' ', 'x y',
  '日本語', 'é', 'e\u0301', '😀', '{😀}', '\uFFFF', 'a\nb', '%', '_', 'chord:{x}:c',
];

export interface RedisTestTarget {
  /** A backend with a new key prefix, or with `keyPrefix` (to share another backend's data). */
  make(keyPrefix?: string): RedisBackend;
  /** Redis nodes to look at (every master on a Cluster). */
  nodeUrls(): Promise<string[]>;
}

async function until(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Closes the connections named `name` on every node (like a network cut), returning how many. */
export async function killConnectionsNamed(urls: readonly string[], name: string): Promise<number> {
  let killed = 0;
  for (const url of urls) {
    const admin = createClient({ url, socket: { connectTimeout: 10_000, reconnectStrategy: false } });
    admin.on('error', () => {});
    await admin.connect();
    try {
      const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
      for (const line of list.split('\n')) {
        const id = /\bid=(\d+)/.exec(line)?.[1];
        if (id !== undefined && line.includes(` name=${name} `)) {
          killed += Number(await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]));
        }
      }
    } finally {
      admin.destroy();
    }
  }
  return killed;
}

/** The Redis-specific tests, named for `suite`'s target. */
export function registerSharedRedisTests(suite: TargetSuite, target: RedisTestTarget): void {
  const { test } = suite;
  test('hostile ids ({, }, *, :, non-ASCII, …) are stored and matched exactly, each only itself', async () => {
    const backend = target.make();
    try {
      for (const [i, id] of HOSTILE_IDS.entries()) {
        await backend.writeVersion(id, { id }, { step: i }, 0);
        await backend.setDelta(id, { extra: i }, 2);
      }
      for (const [i, id] of HOSTILE_IDS.entries()) {
        const label = JSON.stringify(id);
        const record = await backend.getContext(id);
        assert.equal(record?.contextId, id, label);
        assert.deepEqual(record.context, { id }, label);
        assert.deepEqual((await backend.getDeltas(id, 0)).map((d) => [d.contextId, d.version, d.delta]), [[id, 1, { step: i }], [id, 2, { extra: i }]], label);
        assert.deepEqual((await backend.listContexts({ contextId: id })).map((c) => c.contextId), [id], label);
        assert.deepEqual(await backend.listContextsWithDeltaCounts({ contextId: id }), [{ contextId: id, count: 2 }], label);
      }
      const utf8 = (s: string) => Buffer.from(s, 'utf8');
      const sorted = [...HOSTILE_IDS].sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
      assert.deepEqual((await backend.listContexts()).map((c) => c.contextId), sorted, 'all listed once, in byte order');
      assert.deepEqual((await backend.listDeltas({ version: 2 })).map((d) => d.contextId), sorted);
      // Deleting the glob and brace ids removes exactly them.
      const gone = HOSTILE_IDS.filter((id) => /[*?[{}]/.test(id));
      for (const id of gone) {
        assert.equal(await backend.deleteContext(id), 1, JSON.stringify(id));
        assert.equal(await backend.deleteDeltasForContext(id), 2, JSON.stringify(id));
      }
      const kept = sorted.filter((id) => !gone.includes(id));
      assert.deepEqual((await backend.listContexts()).map((c) => c.contextId), kept);
      assert.deepEqual((await backend.listContextsWithDeltaCounts()).map((c) => c.contextId), kept);
    } finally {
      await backend.close();
    }
  });

  test('subscribeChanges: a notice for every write, restore and delete by another backend on the same keys; resync after the connection is cut', async () => {
    const watcher = target.make();
    const writer = target.make(watcher.keyPrefix);
    try {
      const notices: ChangeNotice[] = [];
      let resyncs = 0;
      const subscription = watcher.subscribeChanges({ change: (n) => notices.push(n), resync: () => resyncs++ });
      await subscription.ready;
      await writer.writeVersion('a{1}', { v: 1 }, { d: 1 }, 0);
      await writer.setContext('b:2', { v: 7 }, 7);
      await writer.restoreVersion('a{1}', { v: 9 }, 9);
      await writer.deleteContext('b:2');
      const expected = [
        { contextId: 'a{1}', version: 1 },
        { contextId: 'b:2', version: 7 },
        { contextId: 'a{1}', version: 9 },
        { contextId: 'b:2', version: null },
      ];
      await until('four notices', 10_000, () => notices.length >= 4);
      // Notices of different contexts may come from different nodes, so compare per context.
      for (const id of ['a{1}', 'b:2']) {
        assert.deepEqual(notices.filter((n) => n.contextId === id), expected.filter((n) => n.contextId === id));
      }
      assert.equal(resyncs, 0, 'no resync before any reconnect');

      const killed = await killConnectionsNamed(await target.nodeUrls(), `chord-sync-sub:${watcher.keyPrefix}`);
      assert.ok(killed >= 1, 'the subscriber connections were found and cut');
      await until('a resync after the cut', 15_000, () => resyncs >= 1);
      notices.length = 0;
      await writer.writeVersion('a{1}', { v: 10 }, { d: 10 }, 9);
      await until('a notice after the resync', 10_000, () => notices.some((n) => n.contextId === 'a{1}' && n.version === 10));
      await subscription.close();
      await subscription.close();
    } finally {
      await watcher.close();
      await writer.close();
    }
  });

  test('a dropped connection crashes nothing: calls fail typed or succeed once node-redis reconnects', async () => {
    const backend = target.make();
    try {
      await backend.setContext('x', { a: 1 }, 1);
      await killConnectionsNamed(await target.nodeUrls(), `chord-sync:${backend.keyPrefix}`);
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          assert.equal((await backend.getContext('x'))?.version, 1);
          break;
        } catch (error) {
          assert.ok(error instanceof ChordError, `a typed error, got ${String(error)}`);
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await backend.close();
    }
  });

  test('watch on the engine is pushed by Redis notices from another process', async () => {
    const a = target.make();
    const b = target.make(a.keyPrefix);
    const clock = manualClock();
    const reader = new Chord({ backend: a, clock });
    const writer = new Chord({ backend: b, clock });
    const abort = new AbortController();
    try {
      await writer.setContext('room', { n: 0 });
      const updates = reader.watch('room', { version: null, signal: abort.signal });
      const first = await updates.next();
      expect(first.value).toMatchObject({ kind: 'full' });
      await writer.setContext('room', { n: 1 });
      const second = await updates.next();
      expect(second.value).toMatchObject({ kind: 'delta', version: 2 });
      abort.abort();
    } finally {
      abort.abort();
      await a.close();
      await b.close();
    }
  });
}

/** Rejects with BackendUnavailableError, the test's own timeout bounding the wait. */
export async function expectUnavailable(call: () => Promise<unknown>): Promise<BackendUnavailableError> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackendUnavailableError);
  return error as BackendUnavailableError;
}
