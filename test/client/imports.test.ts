import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { REPO_ROOT } from '../support/build.js';

const SRC = join(REPO_ROOT, 'src');

/** Every module the client loads at run time (type-only imports are erased), as paths under src/. */
function runtimeGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (graph.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    const specifiers: string[] = [];
    // `import x from '…'`, `export … from '…'`, `import '…'` and `import('…')`; not `import type` / `export type`.
    const statement = /^\s*(import|export)\s+(?!type\s)[^'";]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
    for (const match of source.matchAll(statement)) specifiers.push((match[2] ?? match[3] ?? match[4])!);
    graph.set(file, specifiers);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
    }
  }
  return graph;
}

test('chord-sync/client loads no node: module, no package, and nothing of the engine, live, http or backends (only client/, delta/, wire/ and leaf modules)', () => {
  const graph = runtimeGraph(join(SRC, 'client', 'index.ts'));
  const files = [...graph.keys()].map((f) => relative(SRC, f)).sort();
  const outside = [...graph.values()].flat().filter((s) => !s.startsWith('.'));
  expect(outside).toEqual([]);
  for (const file of files) expect(file).toMatch(/^(client\/|delta\/|wire\/|errors\.ts$|validation\.ts$|types\.ts$)/);
  expect(files).toContain('client/chord-client.ts');
  expect(files).toContain('client/chord-connection.ts');
  expect(files).toContain('delta/index.ts');
});

test('src/wire/ (shared by http/ and client/) loads no node: module, no package, and nothing of the engine, live, http or backends', () => {
  const wire = readdirSync(join(SRC, 'wire')).filter((f) => f.endsWith('.ts'));
  expect(wire).toContain('event-id.ts');
  for (const entry of wire) {
    const graph = runtimeGraph(join(SRC, 'wire', entry));
    expect([...graph.values()].flat().filter((s) => !s.startsWith('.'))).toEqual([]);
    for (const file of graph.keys()) expect(relative(SRC, file)).toMatch(/^(delta\/|wire\/|errors\.ts$|validation\.ts$|types\.ts$)/);
  }
});
