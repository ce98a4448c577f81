/**
 * A disposable Redis Cluster for tests: 3 masters + 3 replicas, each `redis-server
 * --cluster-enabled yes` on a free loopback port with its files in a temporary folder, joined by
 * `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`, waited for (bounded) until
 * every slot is served, and stopped (SIGKILL if need be) and removed by `stop()`.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why a Cluster can't be started here, or `undefined` when the binaries are there. */
export function redisClusterProblem(): string | undefined {
  for (const binary of ['redis-server', 'redis-cli']) {
    const found = spawnSync(binary, ['--version'], { timeout: 5_000 });
    if (found.error !== undefined || found.status !== 0) return `${binary} is not installed (needed to start a disposable Redis Cluster)`;
  }
  return undefined;
}

export interface RedisClusterNode {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
}

export interface DisposableRedisCluster {
  readonly nodes: readonly RedisClusterNode[];
  /** `[{ url }]` of every node, for `rootNodes`. */
  readonly rootNodes: Array<{ url: string }>;
  /** The nodes that are masters now (asked with CLUSTER NODES). */
  masters(): Promise<RedisClusterNode[]>;
  /** Kills a node with SIGKILL (no chance to hand over). */
  kill(node: RedisClusterNode): void;
  /** Waits (bounded) until every slot is served by a master that is up and the cluster says ok. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : undefined));
    });
  });
}

/** A free port P whose cluster bus port P + 10000 is free too (else two clusters' gossip can collide). */
async function freePort(taken: ReadonlySet<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await tryListen(0);
    if (port === undefined || port > 55_000 || taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await tryListen(port + 10_000)) !== undefined) return port;
  }
  throw new Error('no free port pair (P, P + 10000) for a Redis Cluster node');
}

export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
}

/**
 * Starts the cluster. `nodeTimeoutMs` is `cluster-node-timeout`: how long a master may be
 * unreachable before its replica takes over (short, so failover tests stay quick).
 */
export async function startRedisCluster(options: { nodeTimeoutMs?: number } = {}): Promise<DisposableRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'chord-redis-cluster-'));
  const nodes: RedisClusterNode[] = [];
  // If the test process ends without stop() (a crash, a killed worker), the servers go with it.
  const killAll = () => {
    for (const node of nodes) if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.removeListener('exit', killAll);
    for (const node of nodes) if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill('SIGKILL');
    await Promise.all(
      nodes.map((node) => (node.process.exitCode === null && node.process.signalCode === null ? new Promise((r) => node.process.once('exit', r)) : undefined)),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort(new Set(nodes.flatMap((n) => [n.port, n.port + 10_000])));
      const child = spawn(
        'redis-server',
        [
          '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1_000),
          '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--appendonly', 'no', '--save', '', '--daemonize', 'no',
          '--logfile', join(dir, `redis-${port}.log`),
        ],
        { stdio: 'ignore' },
      );
      nodes.push({ port, url: `redis://127.0.0.1:${port}`, process: child });
    }
    for (const node of nodes) await until(`redis-server on ${node.port}`, 10_000, async () => (await cli(node.port, 'PING')).trim() === 'PONG');
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
    const cluster: DisposableRedisCluster = {
      nodes,
      rootNodes: nodes.map((n) => ({ url: n.url })),
      async masters() {
        const alive = nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null);
        if (alive === undefined) return [];
        const lines = (await cli(alive.port, 'CLUSTER', 'NODES')).trim().split('\n');
        const ports = lines
          .filter((line) => line.split(' ')[2]?.includes('master') && !line.split(' ')[2]?.includes('fail'))
          .map((line) => Number(line.split(' ')[1]?.split('@')[0]?.split(':')[1]));
        return nodes.filter((n) => ports.includes(n.port));
      },
      kill(node) {
        node.process.kill('SIGKILL');
      },
      async waitHealthy(timeoutMs = 30_000) {
        await until('a healthy Redis Cluster', timeoutMs, async () => {
          for (const node of nodes) {
            if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
            const info = await cli(node.port, 'CLUSTER', 'INFO');
            if (!info.includes('cluster_state:ok') || !info.includes('cluster_slots_ok:16384')) return false;
          }
          return (await cluster.masters()).length === 3;
        });
      },
      stop,
    };
    await cluster.waitHealthy();
    return cluster;
  } catch (error) {
    await stop();
    throw error;
  }
}
