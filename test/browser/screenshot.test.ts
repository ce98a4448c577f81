/**
 * Writes docs/demo.png (the README's picture of `chord-sync serve`): two windows of the demo side
 * by side, after a few notes were added from each. Runs only when asked:
 *   CHORD_SCREENSHOT=1 npx vitest run test/browser/screenshot.test.ts
 */
import { join } from 'node:path';
import { test } from 'vitest';
import { startDemoServer } from '../../src/cli/commands/serve.js';
import { Chord } from '../../src/engine/chord.js';
import { REPO_ROOT } from '../support/build.js';
import { NO_BROWSER, buildClientLib, launchChromium } from './support.js';

const WANTED = process.env.CHORD_SCREENSHOT === '1';

test.skipIf(!WANTED || NO_BROWSER !== undefined)(`docs/demo.png${WANTED ? '' : ' (skipped: set CHORD_SCREENSHOT=1 to write it)'}${NO_BROWSER === undefined ? '' : ` (skipped: ${NO_BROWSER})`}`, async () => {
  const lib = buildClientLib();
  const chord = new Chord();
  const demo = await startDemoServer({ chord, port: 0, libRoot: lib.dir });
  const browser = await launchChromium({ width: 1280, height: 560 });
  try {
    const frame = (title: string) =>
      `<figure><figcaption>${title}</figcaption><iframe src="${demo.url}/"></iframe></figure>`;
    const page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    await page.setContent(`<!doctype html><style>
      body { margin: 0; display: flex; gap: 12px; padding: 12px; background: #d0d7de; font: 13px system-ui, sans-serif; }
      figure { margin: 0; flex: 1; display: flex; flex-direction: column; }
      figcaption { padding: 4px 8px; background: #24292f; color: #fff; border-radius: 6px 6px 0 0; }
      iframe { border: 0; height: 500px; background: #fff; border-radius: 0 0 6px 6px; }
    </style>${frame('Window 1')}${frame('Window 2')}`);
    const [one, two] = page.frames().filter((f) => f !== page.mainFrame());
    for (const f of [one!, two!]) await f.locator('#status.live').waitFor();
    const notes: Array<[typeof one, string]> = [
      [one, 'Window 1 wrote this; window 2 got it as one small delta'],
      [two, 'Written in window 2'],
      [one, 'Ship the live board demo'],
      [two, 'Reconnects resume from Last-Event-ID'],
    ];
    for (const [f, text] of notes) {
      await f!.fill('#new-text', text);
      await f!.click('#add');
      await f!.locator('.note .text', { hasText: text }).waitFor();
    }
    for (const f of [one!, two!]) await f.locator('.note').nth(notes.length - 1).waitFor();
    await page.screenshot({ path: join(REPO_ROOT, 'docs', 'demo.png') });
  } finally {
    await browser.close();
    await demo.close();
    lib.remove();
  }
}, 120_000);
