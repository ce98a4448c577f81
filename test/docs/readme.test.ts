// The README's first example, run as written against the built package, and what its comments
// say about each result checked: a README that drifts from the code fails here.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from 'vitest';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';

function firstExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const use = readme.slice(readme.indexOf('## Use'));
  const match = /```ts\n([\s\S]*?)```/.exec(use);
  if (!match?.[1]) throw new Error('README: no ```ts block under "## Use"');
  return match[1];
}

test('README: the presence example runs and its results are what its comments say', async () => {
  await ensureBuilt();
  const dist = pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href;
  const code = firstExample().replaceAll("from 'chord-sync'", `from '${dist}'`);
  expect(code).toContain(dist);
  const dir = mkdtempSync(join(tmpdir(), 'chord-readme-'));
  try {
    const file = join(dir, 'example.mjs');
    writeFileSync(file, `${code}\nexport { v1, full, fromV1, onClient, upToDate };\n`);
    const { v1, full, fromV1, onClient, upToDate } = await import(pathToFileURL(file).href);
    const v2 = { status: 'online', metadata: { theme: 'dark', language: 'en-US' } };
    expect(full).toMatchObject({ kind: 'full', context: { contextId: 'user:42:presence', version: 2, context: v2 } });
    expect(fromV1).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
    expect(onClient).toEqual(v2);
    expect(typeof v1.context.epoch).toBe('string');
    expect(upToDate).toEqual({ kind: 'no_change', version: 2, epoch: v1.context.epoch });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
