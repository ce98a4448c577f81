import { randomBytes } from 'node:crypto';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import type { BackendHarness } from '../../../src/testing/harness.js';
import type { DisposableRedisCluster } from '../../support/redis-cluster.js';

/** A harness on a disposable Cluster: a new key prefix per backend, so each starts empty. */
export function clusterHarness(
  cluster: () => DisposableRedisCluster,
  options: { commandTimeoutMs?: number } = {},
): BackendHarness<RedisBackend> & { make(keyPrefix?: string): RedisBackend } {
  const runPrefix = `chordtest-${randomBytes(4).toString('hex')}`;
  let n = 0;
  return {
    makeBackend: ({ clock }) =>
      new RedisBackend({ rootNodes: cluster().rootNodes, keyPrefix: `${runPrefix}:${n++}`, clock, commandTimeoutMs: options.commandTimeoutMs ?? 5_000 }),
    make: (keyPrefix) => new RedisBackend({ rootNodes: cluster().rootNodes, keyPrefix: keyPrefix ?? `${runPrefix}:${n++}`, commandTimeoutMs: options.commandTimeoutMs ?? 5_000 }),
    // The cluster is thrown away after the file, keys and all.
    dispose: (backend) => backend.close(),
  };
}
