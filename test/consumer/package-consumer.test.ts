// The package as an app installs it: `npm pack` makes the tarball, an app in a temporary folder
// gets it in node_modules/chord-sync, and every entry point of its `exports` loads there with
// `require` (a CommonJS app) and with `import` (an ES module app). The registry is not asked:
// the app's other packages are links to this repository's node_modules, so the test runs offline.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';

interface PackedJson {
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

let workDir: string;
let packedRoot: string;
let packed: PackedJson;
/** An app with chord-sync and every peer dependency installed (what a Prisma app has). */
let fullApp: string;
/** An app with chord-sync and only its own `dependencies` (what `npm install chord-sync` gives a memory-only user). */
let bareApp: string;

function linkPackage(app: string, name: string): void {
  const source = join(REPO_ROOT, 'node_modules', name);
  if (!existsSync(source)) return;
  const target = join(app, 'node_modules', name);
  mkdirSync(dirname(target), { recursive: true });
  symlinkSync(source, target, 'dir');
}

function makeApp(name: string, tarball: string, packages: readonly string[]): string {
  const app = join(workDir, name);
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  // What `npm install <tarball>` puts in node_modules: the tarball's `package/` folder.
  execFileSync('tar', ['-xzf', tarball, '-C', join(app, 'node_modules')]);
  execFileSync('mv', [join(app, 'node_modules', 'package'), join(app, 'node_modules', 'chord-sync')]);
  for (const dependency of packages) linkPackage(app, dependency);
  return app;
}

function run(app: string, file: string, source: string): unknown {
  writeFileSync(join(app, file), source);
  const out = execFileSync(process.execPath, [file], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out);
}

/** The names each entry exports, loaded the CommonJS way and the ES module way. */
function loadEveryEntry(app: string, entries: readonly string[]): { required: Record<string, string[]>; imported: Record<string, string[]> } {
  const specifiers = JSON.stringify(entries);
  const required = run(
    app,
    'load.cjs',
    `const names = {};
     for (const entry of ${specifiers}) names[entry] = Object.keys(require(entry)).sort();
     process.stdout.write(JSON.stringify(names));`,
  ) as Record<string, string[]>;
  const imported = run(
    app,
    'load.mjs',
    `const names = {};
     for (const entry of ${specifiers}) names[entry] = Object.keys(await import(entry)).filter((k) => k !== 'default' && k !== 'module.exports').sort();
     process.stdout.write(JSON.stringify(names));`,
  ) as Record<string, string[]>;
  return { required, imported };
}

function entrySpecifiers(): string[] {
  return Object.keys(packed.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? 'chord-sync' : `chord-sync/${key.slice(2)}`));
}

beforeAll(async () => {
  await ensureBuilt();
  workDir = mkdtempSync(join(tmpdir(), 'chord-consumer-'));
  // No prepack script exists: the tarball ships the dist/ that ensureBuilt just made.
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const tarball = join(workDir, (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename);
  packedRoot = join(workDir, 'unpacked');
  mkdirSync(packedRoot);
  execFileSync('tar', ['-xzf', tarball, '-C', packedRoot]);
  packedRoot = join(packedRoot, 'package');
  packed = JSON.parse(readFileSync(join(packedRoot, 'package.json'), 'utf8')) as PackedJson;
  const dependencies = Object.keys(packed.dependencies ?? {});
  const peers = Object.keys(packed.peerDependencies ?? {});
  fullApp = makeApp('full-app', tarball, [...dependencies, ...peers]);
  bareApp = makeApp('bare-app', tarball, dependencies);
}, 300_000);

afterAll(() => {
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

test('every entry point loads with require and with import, with the same exports', () => {
  const entries = entrySpecifiers();
  expect(entries).toEqual(expect.arrayContaining(['chord-sync', 'chord-sync/prisma', 'chord-sync/testing']));
  for (const [key, target] of Object.entries(packed.exports)) {
    if (key === './package.json') continue;
    const conditions = target as Record<string, string>;
    expect(conditions.require, `${key} has a require condition`).toBeTypeOf('string');
    expect(conditions.import, `${key} has an import condition`).toBeTypeOf('string');
  }
  const { required, imported } = loadEveryEntry(fullApp, entries);
  for (const entry of entries) {
    expect(required[entry]!.length, `${entry} exports something`).toBeGreaterThan(0);
    expect(required[entry], `${entry}: require and import give the same names`).toEqual(imported[entry]);
  }
  expect(required['chord-sync']).toEqual(expect.arrayContaining(['Chord', 'MemoryBackend', 'applyDelta', 'ChordError']));
  expect(required['chord-sync/prisma']).toEqual(expect.arrayContaining(['PrismaBackend', 'migrate']));
  expect(required['chord-sync/testing']).toEqual(expect.arrayContaining(['runBackendConformance', 'runEngineConformance']));
  expect(entries).toContain('chord-sync/react');
  expect(required['chord-sync/react']).toEqual(['useChordContext']);
});

test('a CommonJS app writes and syncs a context through require("chord-sync")', () => {
  const result = run(
    fullApp,
    'use.cjs',
    `const { Chord } = require('chord-sync');
     (async () => {
       const chord = new Chord();
       await chord.setContext('room:1', { a: 1 });
       await chord.updateContext('room:1', { b: 2 });
       const sync = await chord.syncContext('room:1', 1);
       process.stdout.write(JSON.stringify({ kind: sync.kind, version: sync.version }));
     })();`,
  );
  expect(result).toEqual({ kind: 'delta', version: 2 });
});

test('a memory-only app needs no database driver: chord-sync and chord-sync/testing load without pg or Prisma', () => {
  const peers = Object.keys(packed.peerDependencies ?? {});
  for (const driver of ['pg', '@prisma/client', '@prisma/adapter-pg']) {
    expect(Object.keys(packed.dependencies ?? {}), `${driver} is not a dependency`).not.toContain(driver);
    expect(peers, `${driver} is a peer dependency`).toContain(driver);
    expect(packed.peerDependenciesMeta?.[driver]?.optional, `${driver} is an optional peer`).toBe(true);
  }
  expect(existsSync(join(bareApp, 'node_modules', 'pg'))).toBe(false);
  const { required, imported } = loadEveryEntry(bareApp, ['chord-sync', 'chord-sync/testing']);
  expect(required['chord-sync']).toContain('Chord');
  expect(imported['chord-sync/testing']).toContain('runBackendConformance');
});

test('react is an optional peer: an app without it loads chord-sync/client, and only chord-sync/react asks for react', () => {
  expect(Object.keys(packed.dependencies ?? {})).not.toContain('react');
  expect(packed.peerDependencies?.react).toBeDefined();
  expect(packed.peerDependenciesMeta?.react?.optional).toBe(true);
  expect(existsSync(join(bareApp, 'node_modules', 'react'))).toBe(false);
  const { required, imported } = loadEveryEntry(bareApp, ['chord-sync/client']);
  expect(required['chord-sync/client']).toContain('ChordClient');
  expect(imported['chord-sync/client']).toContain('ChordClient');
  const missing = run(
    bareApp,
    'react-missing.mjs',
    `try { await import('chord-sync/react'); process.stdout.write('null'); } catch (error) { process.stdout.write(JSON.stringify(error.code)); }`,
  );
  expect(missing).toBe('ERR_MODULE_NOT_FOUND');
});

test('the command runs from the installed package and prints its version', () => {
  const version = execFileSync(process.execPath, [join(fullApp, 'node_modules', 'chord-sync', 'bin', 'chord-sync.js'), '--version'], {
    cwd: fullApp,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(version.trim()).toBe((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test('source maps carry their sources, so a stack trace or debugger never points at a file that is not shipped', () => {
  const maps: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(js|d\.ts)$/.test(entry.name)) {
        // Only maps a shipped file points to matter (a dist/ built before may hold stale ones).
        const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(path, 'utf8'))?.[1];
        if (url !== undefined && !url.startsWith('data:')) maps.push(join(dir, url));
      }
    }
  };
  walk(join(packedRoot, 'dist'));
  expect(maps.length).toBeGreaterThan(0);
  for (const path of maps) {
    const map = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
    map.sources.forEach((source, i) => {
      const shipped = existsSync(join(dirname(path), source));
      const inlined = typeof map.sourcesContent?.[i] === 'string';
      expect(shipped || inlined, `${relative(packedRoot, path)} → ${source}`).toBe(true);
    });
  }
});

test('the package ships its LICENSE, a repository field and the docs the README links to', () => {
  const pkg = JSON.parse(readFileSync(join(packedRoot, 'package.json'), 'utf8')) as { repository?: { url?: string }; license?: string };
  expect(pkg.license).toBe('MIT');
  expect(pkg.repository?.url).toMatch(/^git\+https:\/\//);
  expect(readFileSync(join(packedRoot, 'LICENSE'), 'utf8')).toMatch(/MIT License/);
  const readme = readFileSync(join(packedRoot, 'README.md'), 'utf8');
  const links = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)(#[^)]*)?\)/g)].map((m) => m[1]!);
  expect(links.length).toBeGreaterThan(0);
  for (const link of links) expect(existsSync(join(packedRoot, link)), `README links to ${link}`).toBe(true);
});
