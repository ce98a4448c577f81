// Targets for the Redis tests: the run's Redis (REDIS_URL, else a redis-server the globalSetup
// started, see test/support/redis-server.ts) with a key prefix of its own per run and per backend,
// all removed after; and the disposable Cluster of test/support/redis-cluster.ts.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, inject } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import type { BackendHarness } from '../../../src/testing/harness.js';

// Without the globalSetup (a file run on its own through another config), REDIS_URL or nothing.
const choice = inject('chordRedis') ?? (process.env.REDIS_URL ? { url: process.env.REDIS_URL, started: false } : { reason: 'no REDIS_URL, run without the vitest globalSetup' });

/** The run's Redis ('' when there is none: see {@link localRedisProblem}). */
export const LOCAL_REDIS_URL = 'url' in choice ? choice.url : '';

/** `undefined` when the run's Redis answers PING within 2 s, else why not. */
export async function localRedisProblem(url = LOCAL_REDIS_URL): Promise<string | undefined> {
  if (url === '' && 'reason' in choice) return choice.reason;
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return `no Redis answers at ${url} (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/** Deletes every key starting with `prefix` (SCAN in the test's cleanup, never in the backend). */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  const client = createClient({ url, socket: { connectTimeout: 2_000, reconnectStrategy: false } });
  client.on('error', () => {});
  await client.connect();
  let removed = 0;
  try {
    for await (const keys of client.scanIterator({ MATCH: `${escapeGlob(prefix)}*`, COUNT: 1_000 })) {
      if (keys.length > 0) removed += await client.unlink(keys);
    }
  } finally {
    client.destroy();
  }
  return removed;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** A harness on the local Redis: a new key prefix per backend, its keys deleted in dispose. */
export function localHarness(): BackendHarness<RedisBackend> & { readonly runPrefix: string; make(keyPrefix?: string): RedisBackend } {
  const runPrefix = `chordtest-${randomBytes(4).toString('hex')}`;
  let n = 0;
  afterAll(async () => {
    await deleteKeysWithPrefix(LOCAL_REDIS_URL, `${runPrefix}:`).catch(() => {});
  });
  return {
    runPrefix,
    makeBackend: ({ clock }) => new RedisBackend({ url: LOCAL_REDIS_URL, keyPrefix: `${runPrefix}:${n++}`, clock, commandTimeoutMs: 5_000 }),
    make: (keyPrefix) => new RedisBackend({ url: LOCAL_REDIS_URL, keyPrefix: keyPrefix ?? `${runPrefix}:${n++}`, commandTimeoutMs: 5_000 }),
    // Each backend has a prefix of its own, so it starts empty; the run's keys go in one sweep after the file.
    dispose: (backend) => backend.close(),
  };
}
