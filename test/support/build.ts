/**
 * Tests that start `chord-sync` in separate processes need the compiled `dist/`. This builds it
 * when it is missing or older than the sources, once at a time across concurrently running test
 * files (a directory lock), so running such a test file alone works without `npm run build`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The `chord-sync` command as installed by npm. */
export const CLI_BIN = join(REPO_ROOT, 'bin', 'chord-sync.js');
const BUILT_MARKER = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const LOCK_DIR = join(REPO_ROOT, 'dist', '.test-build-lock');
/** How long tsc may take on a busy machine before the build counts as failed. */
const BUILD_TIMEOUT_MS = 240_000;
/** How long to wait for another test file's build before giving up. */
const LOCK_WAIT_MS = 300_000;

const SRC = join(REPO_ROOT, 'src');
const DIST = join(REPO_ROOT, 'dist');
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json'].map((name) => join(REPO_ROOT, name));

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
  }
  return files;
}

/**
 * The first compiled file that is missing or older than its source (or than the build's
 * tsconfig), or undefined when dist/ is current. File by file, so a build that stopped half-way
 * or a source edited since is noticed, not only a missing dist/.
 */
function staleOutput(): string | undefined {
  const config = Math.max(...BUILD_INPUTS.map((path) => (existsSync(path) ? statSync(path).mtimeMs : 0)));
  for (const source of sourceFiles(SRC)) {
    const output = join(DIST, relative(SRC, source)).replace(/\.ts$/, '.js');
    if (!existsSync(output)) return `${relative(REPO_ROOT, output)} is missing`;
    const built = statSync(output).mtimeMs;
    if (built < statSync(source).mtimeMs || built < config) return `${relative(REPO_ROOT, output)} is older than its source`;
  }
  return undefined;
}

function isFresh(): boolean {
  return existsSync(BUILT_MARKER) && staleOutput() === undefined;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Makes sure dist/ is built from the current sources; returns the path of bin/chord-sync.js. */
export async function ensureBuilt(): Promise<string> {
  if (isFresh()) return CLI_BIN;
  mkdirSync(join(REPO_ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      break;
    } catch {
      // Another test file is building; a lock older than the longest build is from a killed run.
      if (existsSync(LOCK_DIR) && Date.now() - statSync(LOCK_DIR).mtimeMs > BUILD_TIMEOUT_MS + 10_000) rmSync(LOCK_DIR, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`test/support/build.ts: waited ${LOCK_WAIT_MS} ms for another build of dist/ (lock ${LOCK_DIR})`);
      await sleep(200);
    }
  }
  try {
    if (!isFresh()) {
      const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: BUILD_TIMEOUT_MS,
      });
      const output = `${tsc.stdout ?? ''}${tsc.stderr ?? ''}`.trim();
      const stale = staleOutput();
      if (tsc.status === null || stale !== undefined || !existsSync(BUILT_MARKER)) {
        throw new Error(
          `building dist/ for the tests that run the package failed (tsc ${tsc.status === null ? `stopped: ${tsc.signal ?? tsc.error?.message}` : `exit ${tsc.status}`}` +
            `${stale !== undefined ? `; ${stale}` : ''}):\n${output.slice(0, 4000)}`,
        );
      }
      // tsc emits even when another part of the tree has a type error (the typecheck step fails
      // on those); say so here, so a test failing on the built code shows why.
      if (tsc.status !== 0) process.stderr.write(`test/support/build.ts: tsc reported errors but emitted dist/:\n${output.slice(0, 4000)}\n`);
    }
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
  return CLI_BIN;
}
