// A master of the disposable Cluster is killed (SIGKILL) under 8 concurrent engine writers.
import { strict as assert } from 'node:assert';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { slotOfTag, idTag } from '../../../src/backends/redis/keys.js';
import { applyDelta } from '../../../src/delta/index.js';
import { Chord } from '../../../src/engine/chord.js';
import { ChordError } from '../../../src/errors.js';
import type { JsonObject } from '../../../src/types.js';
import { type DisposableRedisCluster, redisClusterProblem, startRedisCluster } from '../../support/redis-cluster.js';

const problem = redisClusterProblem();
// Started in beforeAll, not at import, so collecting the tests (vitest list) starts nothing.
let cluster: DisposableRedisCluster | undefined;
beforeAll(async () => {
  if (problem === undefined) cluster = await startRedisCluster({ nodeTimeoutMs: 1_000 });
});
afterAll(async () => {
  await cluster?.stop();
});

const WRITERS = 8;
const CONTEXTS_PER_WRITER = 3;

describe.skipIf(problem !== undefined)(`RedisBackend through a Redis Cluster failover${problem === undefined ? '' : ` (skipped: ${problem})`}`, () => {
  test('a master killed under 8 concurrent writers: errors are typed, writes resume on the promoted replica, no version is half written', async () => {
    const c = cluster as DisposableRedisCluster;
    const backend = new RedisBackend({ rootNodes: c.rootNodes, keyPrefix: 'failover', commandTimeoutMs: 1_000, connectTimeoutMs: 1_000 });
    const chord = new Chord({ backend, deltaTtl: null });
    const ids = Array.from({ length: WRITERS * CONTEXTS_PER_WRITER }, (_, i) => `ctx:${i}`);
    try {
      // Which master serves each context's slot, from the cluster itself.
      const masters = await c.masters();
      const slotRanges = new Map<number, [number, number][]>();
      for (const master of masters) {
        const { execFileSync } = await import('node:child_process');
        const lines = execFileSync('redis-cli', ['-p', String(master.port), 'CLUSTER', 'NODES']).toString().split('\n');
        const mine = lines.find((l) => l.includes('myself'));
        const ranges = (mine?.split(' ').slice(8) ?? []).map((r) => r.split('-').map(Number) as [number, number]);
        slotRanges.set(master.port, ranges.map(([a, b]) => [a, b ?? a]));
      }
      const masterOf = (id: string) => {
        const slot = slotOfTag(idTag(id));
        return masters.find((m) => (slotRanges.get(m.port) ?? []).some(([a, b]) => slot >= a && slot <= b));
      };
      const victim = masterOf(ids[0] as string);
      assert.ok(victim !== undefined, 'the victim master is known');
      const onVictim = ids.filter((id) => masterOf(id) === victim);
      assert.ok(onVictim.length < ids.length, 'some contexts live on other masters');

      for (const id of ids) await chord.setContext(id, { n: 0 });
      // A replica takes over only once it has synced with its master; the first full sync waits
      // out repl-diskless-sync-delay (5 s by default), and a master killed before then leaves its
      // replica refusing to fail over ("Disconnected from master for longer than allowed") and the
      // cluster down for good. So the kill waits (bounded) until every replica's link is up.
      const { execFileSync: redisCli } = await import('node:child_process');
      const synced = () =>
        c.nodes.every((node) => {
          const info = redisCli('redis-cli', ['-p', String(node.port), 'INFO', 'replication']).toString();
          return !info.includes('role:slave') || info.includes('master_link_status:up');
        });
      for (const until = Date.now() + 30_000; !synced(); ) {
        if (Date.now() > until) throw new Error('the replicas did not sync with their masters within 30 s');
        await new Promise((r) => setTimeout(r, 100));
      }
      let killedAt = 0;
      const errors: unknown[] = [];
      const afterKill = new Map<number, number>();
      const writer = async (w: number) => {
        const mine = ids.slice(w * CONTEXTS_PER_WRITER, (w + 1) * CONTEXTS_PER_WRITER);
        let n = 0;
        const deadline = Date.now() + 60_000;
        // Until each writer has written 10 versions after the kill, on every one of its contexts.
        const done = new Map(mine.map((id) => [id, 0]));
        while ([...done.values()].some((count) => count < 10)) {
          if (Date.now() > deadline) throw new Error(`writer ${w}: writes did not resume within 60 s`);
          const id = mine[n++ % mine.length] as string;
          try {
            await chord.updateContext(id, { n, [`w${w}`]: n });
            if (killedAt > 0) {
              done.set(id, (done.get(id) ?? 0) + 1);
              afterKill.set(w, (afterKill.get(w) ?? 0) + 1);
            }
          } catch (error) {
            errors.push(error);
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };
      const writing = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      await new Promise((r) => setTimeout(r, 500));
      c.kill(victim);
      killedAt = Date.now();
      await writing;
      const resumedMs = Date.now() - killedAt;
      process.stderr.write(`redis failover: ${errors.length} typed errors while a master was down; all 8 writers done ${resumedMs} ms after the kill\n`);

      for (const error of errors) assert.ok(error instanceof ChordError, `every error is a ChordError, got ${String(error)}`);
      expect(errors.length).toBeGreaterThan(0);

      // Every stored version has its delta, and the deltas replay to the context (whatever the
      // asynchronous replication lost, a script's writes are kept or lost together).
      for (const id of ids) {
        const record = await chord.getContext(id);
        assert.ok(record !== null, id);
        const deltas = await backend.getDeltas(id, 0);
        assert.deepEqual(deltas.map((d) => d.version), Array.from({ length: record.version }, (_, i) => i + 1), `${id}: one delta per version`);
        let replayed: JsonObject = {};
        for (const d of deltas) replayed = applyDelta(replayed, d.delta);
        assert.deepEqual(replayed, record.context, `${id}: the deltas replay to the context`);
      }
    } finally {
      await backend.close();
    }
  }, 120_000);
});
