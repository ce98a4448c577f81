import { describe, expect, test } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { main } from '../../../src/cli/main.js';
import { recordingIo } from '../../cli/io.js';
import { deleteKeysWithPrefix, localRedisProblem, LOCAL_REDIS_URL } from './support.js';

const problem = await localRedisProblem();

describe.skipIf(problem !== undefined)(`chord-sync stats and cleanup on a redis:// URL${problem === undefined ? '' : ` (skipped: ${problem})`}`, () => {
  test('stats lists the contexts under --key-prefix; cleanup deletes expired deltas there', async () => {
    const keyPrefix = `chordtest-cli-${process.pid}-${Date.now()}`;
    let now = 1_000;
    const backend = new RedisBackend({ url: LOCAL_REDIS_URL, keyPrefix, clock: () => now });
    try {
      await backend.writeVersion('room:1', { a: 1 }, { d: 1 }, 0);
      await backend.writeVersion('room:1', { a: 2 }, { d: 2 }, 1);
      now = Date.now();
      await backend.writeVersion('room:2', { b: 1 }, { d: 1 }, 0);

      const stats = recordingIo();
      expect(await main(['stats', '--url', LOCAL_REDIS_URL, '--key-prefix', keyPrefix], stats)).toBe(0);
      expect(stats.stdout).toMatch(/"room:1"\s+2\s+2/);
      expect(stats.stdout).toMatch(/"room:2"\s+1\s+1/);

      const cleanup = recordingIo();
      expect(await main(['cleanup', '--url', LOCAL_REDIS_URL, '--key-prefix', keyPrefix, '--delta-ttl', '1d'], cleanup)).toBe(0);
      expect((await backend.getDeltas('room:1', 0)).length).toBe(0);
      expect((await backend.getDeltas('room:2', 0)).length).toBe(1);

      const dry = recordingIo();
      expect(await main(['cleanup', '--url', LOCAL_REDIS_URL, '--dry-run'], dry)).toBe(2);
      expect(dry.stderr).toContain('--dry-run');
    } finally {
      await backend.close();
      await deleteKeysWithPrefix(LOCAL_REDIS_URL, `${keyPrefix}:`);
    }
  });
});
