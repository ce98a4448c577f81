import { strict as assert } from 'node:assert';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { idTag, slotOfTag } from '../../../src/backends/redis/keys.js';
import { runBackendConformance, runEngineConformance, runLiveConformance } from '../../../src/testing/index.js';
import { type DisposableRedisCluster, redisClusterProblem, startRedisCluster } from '../../support/redis-cluster.js';
import { clusterHarness } from './cluster-support.js';
import { forTarget } from '../../support/named.js';
import { registerSharedRedisTests } from './shared-tests.js';

const problem = redisClusterProblem();
if (problem !== undefined) process.stderr.write(`chord-sync Redis Cluster tests skipped: ${problem}\n`);
// Started once for the file (about a second) in beforeAll, not at import, so collecting the tests
// (vitest list) starts nothing; stopped after the file.
let cluster: DisposableRedisCluster | undefined;
beforeAll(async () => {
  if (problem === undefined) cluster = await startRedisCluster();
});
afterAll(async () => {
  await cluster?.stop();
});
const current = () => cluster as DisposableRedisCluster;

describe.skipIf(problem !== undefined)(`RedisBackend on a Redis Cluster of 3 masters + 3 replicas${problem === undefined ? '' : ` (skipped: ${problem})`}`, () => {
  const harness = clusterHarness(current);
  const suite = forTarget('redis-cluster {rootNodes}');
  runBackendConformance(suite, harness);
  describe('engine', () => {
    runEngineConformance(suite, harness, { propertyRuns: 100 });
  });
  describe('live', () => {
    runLiveConformance(suite, harness, { propertyRuns: 10 });
  });

  describe('Cluster specifics', () => {
    registerSharedRedisTests(suite, { make: (keyPrefix) => harness.make(keyPrefix), nodeUrls: async () => (await current().masters()).map((m) => m.url) });

    test('contexts spread over every master, and listing merges them in byte order across masters', async () => {
      const backend = harness.make();
      try {
        const ids = Array.from({ length: 60 }, (_, i) => `spread/${i}/${'é😀'.repeat(i % 3)}`);
        for (const id of ids) await backend.writeVersion(id, { id }, { id }, 0);
        // The slot our hash computes is the one Redis computes, and each master holds some contexts.
        const perMaster: number[] = [];
        for (const master of await current().masters()) {
          const client = createClient({ url: master.url, socket: { reconnectStrategy: false } });
          client.on('error', () => {});
          await client.connect();
          try {
            let held = 0;
            for (const id of ids) {
              const key = `${backend.keyPrefix}:{${idTag(id)}}:c`;
              assert.equal(Number(await client.sendCommand(['CLUSTER', 'KEYSLOT', key])), slotOfTag(idTag(id)), `slot of ${id}`);
              const slot = slotOfTag(idTag(id));
              if (Number(await client.sendCommand(['CLUSTER', 'COUNTKEYSINSLOT', String(slot)])) > 0 && (await client.exists(key)) === 1) held++;
            }
            perMaster.push(held);
          } finally {
            client.destroy();
          }
        }
        assert.equal(perMaster.length, 3);
        assert.ok(perMaster.every((n) => n > 0), `contexts per master: ${perMaster.join(', ')}`);
        assert.equal(perMaster.reduce((a, b) => a + b, 0), ids.length, 'each context on exactly one master');
        const utf8 = (s: string) => Buffer.from(s, 'utf8');
        const sorted = [...ids].sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
        assert.deepEqual((await backend.listContexts()).map((c) => c.contextId), sorted);
        assert.deepEqual((await backend.listContexts({ order: 'desc', offset: 7, limit: 11 })).map((c) => c.contextId), sorted.toReversed().slice(7, 18));
        assert.deepEqual((await backend.listDeltas({ offset: 13, limit: 9 })).map((d) => d.contextId), sorted.slice(13, 22));
        assert.deepEqual((await backend.listContextsWithDeltaCounts({ offset: 50 })).map((c) => c.contextId), sorted.slice(50));
      } finally {
        await backend.close();
      }
    });
  });
});
