// The package as a user installs it: its three entry points resolve by name (package.json
// `exports`, through Node's own resolution, not the test's source paths) to the built files, each
// with its type declarations, and `npm pack` ships what those entry points, the command and
// `chord-sync migrate` need.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';

interface PackageJson {
  exports: Record<string, { types?: string; import?: string } | string>;
  bin: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

test('chord-sync, chord-sync/prisma and chord-sync/testing import by name and export the public API', async () => {
  await ensureBuilt();
  const script = `
    const names = {};
    for (const entry of ['chord-sync', 'chord-sync/prisma', 'chord-sync/testing', 'chord-sync/http', 'chord-sync/client', 'chord-sync/react']) {
      names[entry] = Object.keys(await import(entry)).sort();
    }
    process.stdout.write(JSON.stringify(names));`;
  // Run from the package's root: Node resolves the package's own name through its `exports`.
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  const names = JSON.parse(out) as Record<string, string[]>;
  expect(names['chord-sync']).toEqual(
    expect.arrayContaining([
      'Chord', 'MemoryBackend', 'calculateDelta', 'mergeDeltas', 'applyDelta', 'formatDelta', 'unset',
      'ChordError', 'NotFoundError', 'VersionConflictError', 'ValidationError', 'BackendUnavailableError',
    ]),
  );
  expect(names['chord-sync/prisma']).toEqual(expect.arrayContaining(['PrismaBackend', 'migrate']));
  expect(names['chord-sync/testing']).toEqual(expect.arrayContaining(['runBackendConformance', 'runEngineConformance']));
  expect(names['chord-sync/http']).toEqual(expect.arrayContaining(['createSyncHandler', 'toNodeHandler']));
  expect(names['chord-sync/client']).toEqual(expect.arrayContaining(['ChordClient']));
  expect(names['chord-sync/react']).toEqual(['useChordContext']);
});

test('every entry point names built JavaScript and type declarations that exist', async () => {
  await ensureBuilt();
  const entries = Object.entries(pkg.exports).filter(([key]) => key !== './package.json');
  expect(entries.map(([key]) => key).sort()).toEqual(['.', './client', './http', './prisma', './react', './redis', './testing']);
  for (const [key, target] of entries) {
    expect(typeof target, key).toBe('object');
    const { types, import: js } = target as { types?: string; import?: string };
    expect(existsSync(join(REPO_ROOT, js ?? '')), `${key} → ${js}`).toBe(true);
    expect(existsSync(join(REPO_ROOT, types ?? '')), `${key} → ${types}`).toBe(true);
  }
});

test('npm pack ships the entry points, the command, the schema and the migrations, and no tests', async () => {
  await ensureBuilt();
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const files = new Set((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path));
  for (const target of Object.values(pkg.exports)) {
    if (typeof target === 'string') continue;
    for (const path of [target.import, target.types]) if (path !== undefined) expect(files, path).toContain(path.replace(/^\.\//, ''));
  }
  for (const bin of Object.values(pkg.bin)) expect(files).toContain(bin.replace(/^\.\//, ''));
  expect(files).toContain('dist/cli/main.js');
  expect(files).toContain('prisma/schema.prisma');
  expect(files).toContain('prisma/migrations/migration_lock.toml');
  expect([...files].some((f) => /^prisma\/migrations\/\d+_\w+\/migration\.sql$/.test(f)), 'a migration.sql').toBe(true);
  expect([...files].filter((f) => f.startsWith('test/') || f.startsWith('src/'))).toEqual([]);
});
