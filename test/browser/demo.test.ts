import { afterEach, expect, test } from 'vitest';
import { DEMO_BOARD_ID } from '../../src/cli/commands/serve.js';
import { NO_BROWSER, demoInTwoWindows } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

test.skipIf(NO_BROWSER !== undefined)(`the serve demo in two Chromium windows: a write in one shows in both${NO_BROWSER === undefined ? '' : ` (skipped: ${NO_BROWSER})`}`, async () => {
  const { chord, first, second, pageErrors } = await demoInTwoWindows(cleanups, 15_000);

  // A note added through the first window's page shows in both.
  await first!.fill('#new-text', 'hello from window one');
  await first!.click('#add');
  for (const page of [first!, second!]) {
    await page.locator('.note .text', { hasText: 'hello from window one' }).waitFor();
  }
  // The second window removes it; it goes from both.
  await second!.locator('.note', { hasText: 'hello from window one' }).locator('.remove').click();
  for (const page of [first!, second!]) {
    await page.locator('.note').first().waitFor({ state: 'detached' });
  }
  // A write on the server side shows in both windows too, at the server's version.
  const { context } = await chord.updateContext(DEMO_BOARD_ID, { notes: { fromserver: { text: 'written by the server', x: 40, y: 40, color: '#ddf4ff' } } });
  for (const page of [first!, second!]) {
    await page.locator('.note .text', { hasText: 'written by the server' }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { chordClient: { state: { version: number } } }).chordClient.state.version)).toBe(context.version);
  }
  expect(pageErrors).toEqual([]);
}, 120_000);
