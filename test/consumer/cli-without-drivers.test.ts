// The `chord-sync` command in an app that installed chord-sync and nothing else: the packed
// tarball goes alone into an empty folder with `npm install --offline` (its only dependency,
// sorted-btree, packed from this repository's node_modules beside it: npm's cache may hold no
// registry metadata for it, and no registry is asked), then `--help`, `--version` and `serve`
// (memory) must work, and a command that needs PostgreSQL or Redis must name the package to
// install, not crash.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';

let workDir: string;
let app: string;
let bin: string;
const children: ChildProcess[] = [];

function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(process.execPath, [bin, ...args], { cwd: app, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return { status: 0, stdout, stderr: '' };
  } catch (error) {
    const e = error as { status: number | null; stdout: string; stderr: string };
    return { status: e.status, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  await ensureBuilt();
  workDir = mkdtempSync(join(tmpdir(), 'chord-no-drivers-'));
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  const tarball = join(workDir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
  const dependencies = Object.keys((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
  const dependencyTarballs = dependencies.map((name) => {
    const packed = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir, join(REPO_ROOT, 'node_modules', name)], { cwd: workDir, encoding: 'utf8', timeout: 60_000 });
    return join(workDir, (JSON.parse(packed) as Array<{ filename: string }>)[0]!.filename);
  });
  app = join(workDir, 'app');
  execFileSync('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'bare-app', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball, ...dependencyTarballs], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  bin = join(app, 'node_modules', 'chord-sync', 'bin', 'chord-sync.js');
}, 300_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

test('the app has chord-sync and its own dependency only: no driver, no Prisma', () => {
  const installed = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  const names = Object.keys(installed.packages).filter((key) => key !== '').sort();
  expect(names).toEqual(['node_modules/chord-sync', 'node_modules/sorted-btree']);
  for (const driver of ['pg', '@prisma/client', 'redis', '@electric-sql/pglite']) expect(existsSync(join(app, 'node_modules', driver)), driver).toBe(false);
});

test('chord-sync --help and --version work', () => {
  const help = cli(['--help']);
  expect(help.stderr).toBe('');
  expect(help.status).toBe(0);
  for (const command of ['migrate', 'stats', 'cleanup', 'serve', 'demo']) expect(help.stdout).toContain(command);
  const migrateHelp = cli(['migrate', '--help']);
  expect(migrateHelp.status).toBe(0);
  expect(migrateHelp.stdout).toContain('72707369');
  const version = cli(['--version']);
  expect(version.status).toBe(0);
  expect(version.stdout.trim()).toBe((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('chord-sync serve runs on memory and answers a sync', async () => {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], { cwd: app, env: { ...process.env, DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no address within 20 s: ${output}`)), 20_000);
    const check = (): void => {
      const match = /open (http:\/\/\S+?)\/ in two windows/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${output}`));
    });
  });
  expect(output).toContain('MemoryBackend');
  const page = await fetch(`${url}/`, { signal: AbortSignal.timeout(10_000) });
  expect(page.status).toBe(200);
  child.kill('SIGTERM');
  await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  expect(output).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find/);
});

test('a command that needs a driver names the package to install, in one line, exit 1', () => {
  const cases: Array<[string[], RegExp]> = [
    [['migrate', '--url', 'postgresql://u@127.0.0.1:1/db'], /needs the package pg, .*npm install pg @prisma\/client/],
    [['migrate', '--print'], /needs the package pg, .*npm install pg @prisma\/client/],
    [['stats', '--url', 'postgresql://u@127.0.0.1:1/db'], /needs the package pg, .*npm install pg @prisma\/client/],
    [['stats', '--url', 'redis://127.0.0.1:1'], /needs the package redis, .*npm install redis/],
    [['serve', '--port', '0', '--url', 'postgresql://u@127.0.0.1:1/db'], /needs the package pg, .*npm install pg @prisma\/client/],
  ];
  for (const [args, message] of cases) {
    const result = cli(args);
    const what = args.join(' ');
    expect(result.status, what).toBe(1);
    expect(result.stderr.trim().split('\n'), `${what}: one line`).toHaveLength(1);
    expect(result.stderr, what).toMatch(message);
    expect(result.stderr, what).toMatch(/\[invalid_argument\]$/m);
    expect(result.stderr, what).not.toMatch(/\n\s+at /);
  }
});
