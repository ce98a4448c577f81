// A throwaway PostgreSQL server for fault tests: initdb + pg_ctl from the machine's PostgreSQL
// packages, in a temporary folder, on a free port on 127.0.0.1. Tests stop, kill and restart it
// without touching the shared server other tests use.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DisposablePostgres {
  readonly url: string;
  readonly port: number;
  /** Starts the server (again) on the same port and data folder; waits until it accepts connections. */
  start(): void;
  /** Fast shutdown: the server ends open sessions and stops cleanly. */
  stop(): void;
  /** SIGKILL of the postmaster, as a crash would be; the next start recovers from the WAL. */
  kill(): void;
  /** Stops (mode `fast`) and starts again. */
  restart(): void;
  /** Stops the server if it runs and removes its folder. */
  dispose(): void;
}

/** Where initdb and pg_ctl live, or null with the reason they can't be used. */
export function findPostgresBinaries(): { bindir: string } | { missing: string } {
  const candidates: string[] = [];
  const fromPgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (fromPgConfig.status === 0) candidates.push(fromPgConfig.stdout.trim());
  if (existsSync('/usr/lib/postgresql')) {
    for (const version of readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))) {
      candidates.push(join('/usr/lib/postgresql', version, 'bin'));
    }
  }
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir) candidates.push(dir);
  for (const bindir of candidates) {
    if (existsSync(join(bindir, 'initdb')) && existsSync(join(bindir, 'pg_ctl')) && existsSync(join(bindir, 'postgres'))) {
      return { bindir };
    }
  }
  return { missing: 'initdb, pg_ctl and postgres were not found (install Debian package postgresql)' };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Creates and starts a server. PostgreSQL refuses to run as root, so as root the server runs as
 * the `postgres` system user (created by Debian's package) through `runuser`.
 */
export async function startDisposablePostgres(bindir: string): Promise<DisposablePostgres> {
  const root = mkdtempSync(join(tmpdir(), 'chord-pg-'));
  const data = join(root, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(root, uid, gid);
  }
  const run = (tool: string, args: string[]): void => {
    const [cmd, argv] = asRoot
      ? ['runuser', ['-u', 'postgres', '--', join(bindir, tool), ...args]]
      : [join(bindir, tool), args];
    const result = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      const log = existsSync(join(root, 'log')) ? readFileSync(join(root, 'log'), 'utf8').slice(-2000) : '';
      throw new Error(`${tool} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}\n${log}`);
    }
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const server: DisposablePostgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: () => run('pg_ctl', ['-D', data, '-o', options, '-l', join(root, 'log'), '-w', '-t', '60', 'start']),
    stop: () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']),
    kill: () => {
      const pid = Number(execFileSync('head', ['-1', join(data, 'postmaster.pid'), ], { encoding: 'utf8' }).trim());
      process.kill(pid, 'SIGKILL');
      // The postmaster's children notice its death and exit; wait for the port to be free.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const probe = spawnSync(join(bindir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { encoding: 'utf8' });
        if (probe.status === 2) break;
        spawnSync('sleep', ['0.1']);
      }
      // A killed postmaster may linger as a zombie (a container's PID 1 need not reap it), and
      // PostgreSQL takes a live PID in its lock files for a running server: remove them.
      rmSync(join(data, 'postmaster.pid'), { force: true });
      rmSync(join(root, `.s.PGSQL.${port}.lock`), { force: true });
      rmSync(join(root, `.s.PGSQL.${port}`), { force: true });
    },
    restart: () => {
      server.stop();
      server.start();
    },
    dispose: () => {
      spawnSync(asRoot ? 'runuser' : join(bindir, 'pg_ctl'), asRoot
        ? ['-u', 'postgres', '--', join(bindir, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop']
        : ['-D', data, '-m', 'immediate', '-w', 'stop'], { encoding: 'utf8' });
      rmSync(root, { recursive: true, force: true });
    },
  };
  server.start();
  return server;
}
