import { describe, test } from 'vitest';
import { runBackendConformance, runEngineConformance } from '../../src/testing/index.js';
import { localHarness, localRedisProblem, LOCAL_REDIS_URL } from './support.js';

const problem = await localRedisProblem();
if (problem !== undefined) process.stderr.write(`chord-sync Redis tests skipped: ${problem}\n`);

describe.skipIf(problem !== undefined)(`RedisBackend on ${LOCAL_REDIS_URL}${problem === undefined ? '' : ` (skipped: ${problem})`}`, () => {
  const harness = localHarness();
  runBackendConformance({ describe, test }, harness);
  describe('engine', () => {
    runEngineConformance({ describe, test }, harness, { propertyRuns: 200 });
  });
});
