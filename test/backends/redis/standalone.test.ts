import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { ValidationError } from '../../../src/errors.js';
import { runBackendConformance, runEngineConformance, runLiveConformance } from '../../../src/testing/index.js';
import { forTarget } from '../../support/named.js';
import { expectUnavailable, registerSharedRedisTests } from './shared-tests.js';
import { localHarness, localRedisProblem, LOCAL_REDIS_URL } from './support.js';

const problem = await localRedisProblem();
if (problem !== undefined) process.stderr.write(`chord-sync Redis tests skipped: ${problem}\n`);

// One server ({ url }): the run's Redis (REDIS_URL, else one the globalSetup started).
const suite = forTarget('redis {url}');

describe.skipIf(problem !== undefined)(`RedisBackend on one Redis server { url }${problem === undefined ? '' : ` (skipped: ${problem})`}`, () => {
  const harness = localHarness();
  runBackendConformance(suite, harness);
  describe('engine', () => {
    runEngineConformance(suite, harness, { propertyRuns: 200 });
  });
  describe('live', () => {
    runLiveConformance(suite, harness, { propertyRuns: 25 });
  });
  describe('Redis specifics', () => {
    registerSharedRedisTests(suite, {
      make: (keyPrefix) => harness.make(keyPrefix),
      nodeUrls: async () => [LOCAL_REDIS_URL],
    });
  });

  test('a write that timed out while the connection was down is not sent when it comes back', async () => {
    // node-redis keeps commands made while it reconnects and sends them once it is back; the
    // backend must drop one whose caller it already told "unavailable". A proxy in front of the
    // Redis cuts the connection and refuses new ones until told otherwise (the Redis keeps its
    // scripts, so a late EVALSHA would run).
    const target = new URL(LOCAL_REDIS_URL);
    const sockets = new Set<Socket>();
    let proxy: Server = createServer();
    const listen = (port: number) =>
      new Promise<number>((resolve, reject) => {
        proxy = createServer((client) => {
          const upstream = createConnection({ host: target.hostname, port: Number(target.port || 6379) });
          for (const s of [client, upstream]) {
            sockets.add(s);
            s.on('error', () => {});
            s.on('close', () => sockets.delete(s));
          }
          client.pipe(upstream).pipe(client);
        });
        proxy.once('error', reject);
        proxy.listen(port, '127.0.0.1', () => resolve((proxy.address() as { port: number }).port));
      });
    const port = await listen(0);
    const backend = new RedisBackend({ url: `redis://127.0.0.1:${port}`, keyPrefix: `${harness.runPrefix}:late`, commandTimeoutMs: 300 });
    try {
      await backend.setContext('probe', { up: true }, 1);
      const closed = new Promise<void>((resolve) => proxy.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      // The client has seen the connection drop once a call fails; the next one waits in its queue.
      await expectUnavailable(() => backend.getContext('probe'));
      await expectUnavailable(() => backend.setContext('late', { sent: 'while down' }, 1));
      await listen(port);
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await backend.setContext('probe', { up: 'again' }, 2);
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      // A queued command is written before any made after the reconnect, so it would be stored by now.
      expect(await backend.getContext('late')).toBeNull();
    } finally {
      await backend.close().catch(() => {});
      for (const s of sockets) s.destroy();
      proxy.close();
    }
  }, 30_000);
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
