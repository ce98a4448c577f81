import { createServer } from 'node:net';
import { describe, expect, test } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { ValidationError } from '../../src/errors.js';
import { runBackendConformance, runEngineConformance, runLiveConformance } from '../../src/testing/index.js';
import { expectUnavailable, registerSharedRedisTests } from './shared-tests.js';
import { localHarness, localRedisProblem, LOCAL_REDIS_URL } from './support.js';

const problem = await localRedisProblem();
if (problem !== undefined) process.stderr.write(`chord-sync Redis tests skipped: ${problem}\n`);

describe.skipIf(problem !== undefined)(`RedisBackend on ${LOCAL_REDIS_URL}${problem === undefined ? '' : ` (skipped: ${problem})`}`, () => {
  const harness = localHarness();
  runBackendConformance({ describe, test }, harness);
  describe('engine', () => {
    runEngineConformance({ describe, test }, harness, { propertyRuns: 200 });
  });
  describe('live', () => {
    runLiveConformance({ describe, test }, harness, { propertyRuns: 25 });
  });
  describe('Redis specifics', () => {
    registerSharedRedisTests({
      make: (keyPrefix) => harness.make(keyPrefix),
      nodeUrls: async () => [LOCAL_REDIS_URL],
    });
  });
});

describe('RedisBackend without a Redis', () => {
  test('a Redis that does not answer is BackendUnavailableError, bounded by the connect timeout', async () => {
    // Port 1 on loopback: nothing listens there.
    const backend = new RedisBackend({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 300, commandTimeoutMs: 300 });
    try {
      const error = await expectUnavailable(() => backend.getContext('a'));
      expect(error.message).toContain('RedisBackend.getContext("a")');
      await expectUnavailable(() => backend.writeVersion('a', {}, {}, 0));
      await expectUnavailable(() => backend.listContexts());
      await expectUnavailable(() => backend.deleteIdleContexts(0, 10));
    } finally {
      await backend.close();
    }
  });

  test('a Redis that accepts commands and never replies is BackendUnavailableError after commandTimeoutMs', async () => {
    // Answers the connection handshake (CLIENT SETNAME / SETINFO), then reads and never replies.
    const server = createServer((socket) => {
      socket.on('data', (chunk) => {
        for (const _ of chunk.toString('latin1').matchAll(/CLIENT/g)) socket.write('+OK\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const backend = new RedisBackend({ url: `redis://127.0.0.1:${port}`, connectTimeoutMs: 2_000, commandTimeoutMs: 300 });
    try {
      const error = await expectUnavailable(() => backend.getContext('a'));
      expect(error.message).toMatch(/no reply within 300 ms/);
      await expectUnavailable(() => backend.writeVersion('a', {}, {}, 0));
    } finally {
      await backend.close().catch(() => {});
      server.close();
    }
  });

  test('a Cluster whose root nodes do not answer is BackendUnavailableError', async () => {
    const backend = new RedisBackend({ rootNodes: [{ url: 'redis://127.0.0.1:1' }], connectTimeoutMs: 300, commandTimeoutMs: 300 });
    try {
      await expectUnavailable(() => backend.setContext('a', {}, 1));
      await expectUnavailable(() => backend.listDeltas());
    } finally {
      await backend.close();
    }
  });

  test('bad configuration is a ValidationError naming the field', () => {
    const make = (config: unknown) => () => new RedisBackend(config as never);
    expect(make({})).toThrow(ValidationError);
    expect(make({ url: 'http://x' })).toThrow(/config\.url/);
    expect(make({ url: 'redis://x', rootNodes: [{ url: 'redis://y' }] })).toThrow(/exactly one/);
    expect(make({ rootNodes: [] })).toThrow(/config\.rootNodes/);
    expect(make({ url: 'redis://x', keyPrefix: 'a{b}' })).toThrow(/config\.keyPrefix/);
    expect(make({ url: 'redis://x', commandTimeoutMs: 0 })).toThrow(/config\.commandTimeoutMs/);
    expect(make({ client: {} })).toThrow(/config\.client/);
  });
});
