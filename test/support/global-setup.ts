// vitest globalSetup: picks the test database (see database.ts) and the Redis (see redis-server.ts)
// once per run, and removes what it made at the end.
import type { TestProject } from 'vitest/node';
import { chooseDatabase } from './database.js';
import { chooseRedis } from './redis-server.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const { choice, release } = await chooseDatabase();
  const took = `${((Date.now() - started) / 1000).toFixed(1)} s`;
  project.provide('chordDatabase', choice);
  // Said once per run: why there is no server, so every skipped server test needs no more words.
  const where =
    choice.kind === 'pglite'
      ? `PGlite in-process and over its wire protocol (${choice.reason})`
      : choice.kind === 'container'
        ? `container ${choice.image} at ${new URL(choice.url).host}, database ${new URL(choice.url).pathname.slice(1)}, user ${new URL(choice.url).username} (started in ${took})`
        : `${choice.kind} ${new URL(choice.url).pathname.slice(1)}`;
  process.stderr.write(`chord-sync tests: PostgreSQL = ${where}\n`);
  const redis = await chooseRedis();
  project.provide('chordRedis', redis.choice);
  process.stderr.write(`chord-sync tests: Redis = ${'url' in redis.choice ? `${redis.choice.url}${redis.choice.started ? ' (a redis-server of this run)' : ' (REDIS_URL)'}` : `none (${redis.choice.reason})`}\n`);
  return async () => {
    await Promise.allSettled([release(), redis.release()]);
  };
}
