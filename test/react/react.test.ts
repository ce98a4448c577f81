// chord-sync/react in Node: what it imports, that react is an optional peer, and a server render
// (no DOM: useSyncExternalStore's server snapshot), which must follow nothing. The hook's life in
// a browser (mount, update, unmount) is test/browser/connection.test.ts.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { expect, expectTypeOf, test } from 'vitest';
import type { ChordConnection } from '../../src/client/index.js';
import type { ChordContextSource } from '../../src/react/index.js';
import { useChordContext } from '../../src/react/index.js';
import { REPO_ROOT } from '../support/build.js';

test('src/react imports only react and src/client (types included)', () => {
  const dir = join(REPO_ROOT, 'src', 'react');
  const specifiers: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) specifiers.push(match[1]!);
  }
  expect(specifiers).toContain('react');
  for (const specifier of specifiers) expect(specifier).toMatch(/^(react|\.\.\/client\/[\w-]+\.js|\.\/[\w-]+\.js)$/);
});

test('react is an optional peer dependency (18 or 19) and a dev dependency; chord-sync/react is an entry point like the others', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, { optional?: boolean }>;
    devDependencies: Record<string, string>;
    dependencies: Record<string, string>;
    exports: Record<string, unknown>;
  };
  expect(pkg.peerDependencies.react).toBe('^18.0.0 || ^19.0.0');
  expect(pkg.peerDependenciesMeta.react).toEqual({ optional: true });
  expect(pkg.devDependencies.react).toBeDefined();
  expect(Object.keys(pkg.dependencies)).not.toContain('react');
  expect(pkg.exports['./react']).toEqual({ types: './dist/react/index.d.ts', import: './dist/react/index.js', require: './dist/react/index.js' });
});

test('a server render shows nothing yet and follows nothing (the context is taken on subscribe, which a server never does)', () => {
  const asked: string[] = [];
  const connection: ChordContextSource = {
    context(contextId) {
      asked.push(contextId);
      throw new Error('a server render must not follow a context');
    },
  };
  function Room() {
    const { state, confirmed, pending, error } = useChordContext(connection, 'room:1');
    return createElement('p', null, JSON.stringify({ state, confirmed, pending, error: error ?? null }));
  }
  const html = renderToString(createElement(Room));
  expect(html).toBe(`<p>${JSON.stringify({ state: null, confirmed: null, pending: 0, error: null }).replaceAll('"', '&quot;')}</p>`);
  expect(asked).toEqual([]);
});

test('a ChordConnection is what the hook takes (checked by the type checker)', () => {
  expectTypeOf<ChordConnection>().toExtend<ChordContextSource>();
  expectTypeOf(useChordContext).parameter(0).toEqualTypeOf<ChordContextSource>();
});
