/**
 * The Redis the tests use, decided once per run in the vitest globalSetup and handed to every
 * test file through `inject('chordRedis')`:
 *
 * 1. `REDIS_URL` when set (each backend under test still gets a key prefix of its own);
 * 2. else a `redis-server` of the run's own, on a free loopback port, with no persistence, in a
 *    temporary folder, stopped at the end: a shared Redis's keyspace is never written by default;
 * 3. else none, with the reason, and the Redis tests are reported as skipped with it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, tryListen, until } from './redis-cluster.js';

/** What the globalSetup chose: a URL (given, or of the server it started) or why there is none. */
export type RedisChoice = { readonly url: string; readonly started: boolean } | { readonly reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    chordRedis: RedisChoice;
  }
}

/** How long the started server may take to answer PING. */
const START_TIMEOUT_MS = 30_000;

/** Starts `redis-server` on a free port; `stop` kills it and removes its folder. */
async function startRedisServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'chord-redis-'));
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free loopback port for redis-server');
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', join(dir, 'redis.log')],
    { stdio: 'ignore' },
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  // If the run ends without release (a crash), the server goes with it.
  const kill = () => {
    if (running()) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const stop = async () => {
    process.removeListener('exit', kill);
    if (running()) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await until(`redis-server on ${port}`, START_TIMEOUT_MS, async () => running() && (await cli(port, 'PING')).trim() === 'PONG');
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

/** Decides the Redis for this run; the returned `release` stops whatever was started. */
export async function chooseRedis(env: NodeJS.ProcessEnv = process.env): Promise<{ choice: RedisChoice; release: () => Promise<void> }> {
  const given = env.REDIS_URL;
  if (given !== undefined && given !== '') return { choice: { url: given, started: false }, release: async () => {} };
  for (const binary of ['redis-server', 'redis-cli']) {
    const found = spawnSync(binary, ['--version'], { timeout: 5_000 });
    if (found.error !== undefined || found.status !== 0) {
      return { choice: { reason: `no REDIS_URL, and ${binary} is not installed to start one` }, release: async () => {} };
    }
  }
  try {
    const server = await startRedisServer();
    return { choice: { url: server.url, started: true }, release: server.stop };
  } catch (error) {
    return { choice: { reason: `no REDIS_URL, and redis-server did not start: ${error instanceof Error ? error.message : String(error)}` }, release: async () => {} };
  }
}
