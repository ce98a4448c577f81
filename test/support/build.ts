/**
 * Tests that start `chord-sync` in separate processes need the compiled `dist/`. This builds it
 * when it is missing or older than the sources, once at a time across concurrently running test
 * files (a directory lock), so running such a test file alone works without `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `chord-sync` command as installed by npm. */
export const CLI_BIN = join(REPO_ROOT, 'bin', 'chord-sync.js');
const BUILT_MARKER = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const LOCK_DIR = join(REPO_ROOT, 'dist', '.test-build-lock');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function isFresh(): boolean {
  return existsSync(BUILT_MARKER) && statSync(BUILT_MARKER).mtimeMs >= newestSource(join(REPO_ROOT, 'src'));
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Makes sure dist/ is built from the current sources; returns the path of bin/chord-sync.js. */
export async function ensureBuilt(): Promise<string> {
  if (isFresh()) return CLI_BIN;
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      break;
    } catch {
      // Another test file is building; a lock older than 5 minutes is from a killed run.
      if (existsSync(LOCK_DIR) && Date.now() - statSync(LOCK_DIR).mtimeMs > 300_000) rmSync(LOCK_DIR, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    if (!isFresh()) {
      // tsc emits even when another part of the tree has a type error; the typecheck step reports those.
      spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
        cwd: REPO_ROOT,
        stdio: 'ignore',
      });
      if (!existsSync(BUILT_MARKER)) throw new Error('building dist/ for the CLI tests failed: run `npm run build` to see why');
    }
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
  return CLI_BIN;
}
