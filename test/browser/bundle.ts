/**
 * For the browser tests: pages under test/browser/pages/ bundled with Vite (its JavaScript API, no
 * config file, no plugin) into a new temporary directory, as an app would bundle chord-sync/client
 * and chord-sync/react. Offline: everything comes from this repository and its node_modules.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import { REPO_ROOT } from '../support/build.js';
import { within } from '../http/support.js';

/** How long a bundle may take on a busy machine (it takes about 2 s on a quiet one). */
const BUNDLE_TIMEOUT_MS = 120_000;

/** Bundles each page (name → file under test/browser/pages/) to `<dir>/<name>.js`, an ES module with React and the client inside. */
export async function bundlePages(pages: Readonly<Record<string, string>>): Promise<{ dir: string; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'chord-pages-'));
  const input = Object.fromEntries(Object.entries(pages).map(([name, file]) => [name, join(REPO_ROOT, 'test', 'browser', 'pages', file)]));
  try {
    await within(
      build({
        configFile: false,
        root: REPO_ROOT,
        cacheDir: join(dir, '.vite-cache'),
        logLevel: 'error',
        mode: 'production',
        build: {
          outDir: join(dir, 'out'),
          emptyOutDir: true,
          write: true,
          minify: false,
          modulePreload: false,
          copyPublicDir: false,
          rolldownOptions: { input, output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' } },
        },
      }),
      BUNDLE_TIMEOUT_MS,
      'bundling the test pages with Vite',
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return { dir: join(dir, 'out'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
