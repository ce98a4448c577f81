/**
 * For the browser tests: the client compiled to a temporary directory (the page loads it from
 * there, as `chord-sync serve` loads it from dist/, without touching dist/), and headless
 * Chromium through playwright-core with a fresh profile.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { startDemoServer } from '../../src/cli/commands/serve.js';
import { Chord } from '../../src/engine/chord.js';
import { REPO_ROOT } from '../support/build.js';

/** Debian's chromium package; CI's .ci/run installs it when missing. */
export const CHROMIUM = '/usr/bin/chromium';
/** Why the browser tests are skipped, or undefined when they can run. */
export const NO_BROWSER = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get install chromium)`;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Compiles src/client and what it imports to a new temporary directory; returns it and its removal. */
export function buildClientLib(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'chord-client-lib-'));
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(
    process.execPath,
    [tsc, join(REPO_ROOT, 'src', 'client', 'index.ts'), '--outDir', dir, '--rootDir', join(REPO_ROOT, 'src'),
      '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--lib', 'ES2024,DOM',
      '--types', 'node', '--skipLibCheck', '--noCheck', '--isolatedModules'],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 },
  );
  if (!existsSync(join(dir, 'client', 'index.js'))) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`compiling the client failed: ${result.stdout}${result.stderr}`);
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Headless Chromium with a fresh profile directory, removed by `close()`. `extraArgs` are for one
 * test's browser only (e.g. `--ignore-certificate-errors` for a self-signed certificate).
 */
export async function launchChromium(viewport = { width: 900, height: 600 }, extraArgs: readonly string[] = []): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'chord-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    viewport,
    timeout: 60_000,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The `chord-sync serve` demo on a fresh in-memory Chord, opened live in two Chromium windows.
 * Everything it starts is pushed onto `cleanups`; page errors are collected in `pageErrors`.
 */
export async function demoInTwoWindows(
  cleanups: Array<() => unknown>,
  pageTimeoutMs: number,
): Promise<{ chord: Chord; url: string; first: Page; second: Page; pageErrors: string[] }> {
  const lib = buildClientLib();
  cleanups.push(() => lib.remove());
  const chord = new Chord();
  const demo = await startDemoServer({ chord, port: 0, libRoot: lib.dir });
  cleanups.push(() => demo.close());
  const browser = await launchChromium();
  cleanups.push(() => browser.close());
  const [first, second] = [await browser.context.newPage(), await browser.context.newPage()];
  const pageErrors: string[] = [];
  for (const page of [first, second]) {
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.setDefaultTimeout(pageTimeoutMs);
    await page.goto(`${demo.url}/`);
    await page.locator('#status.live').waitFor();
  }
  return { chord, url: demo.url, first, second, pageErrors };
}
