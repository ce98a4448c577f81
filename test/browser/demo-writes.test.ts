import { afterEach, expect, test } from 'vitest';
import { DEMO_BOARD_ID } from '../../src/cli/commands/serve.js';
import { NO_BROWSER, demoInTwoWindows } from './support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface PageClient {
  chordClient: {
    pending: number;
    state: { context: { notes: Record<string, { text: string }> } } | null;
    confirmed: { context: { notes: Record<string, { text: string }> } } | null;
    update(changes: unknown): Promise<unknown>;
  };
}

test.skipIf(NO_BROWSER !== undefined)(
  `the serve demo writes through the client in Chromium: a note shows in its own window before the server answers, then in the other${NO_BROWSER === undefined ? '' : ` (skipped: ${NO_BROWSER})`}`,
  async () => {
    const { chord, first, second, pageErrors } = await demoInTwoWindows(cleanups, 20_000);

    // The first window's writes are held back before they reach the server, until released.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    await first!.route('**/contexts/**', async (route) => {
      if (route.request().method() === 'POST') {
        held++;
        await released;
      }
      await route.continue();
    });

    await first!.fill('#new-text', 'optimistic note');
    await first!.click('#add');
    // Shown in the window that wrote it while its write is still held, not in the other, not stored.
    await first!.locator('.note .text', { hasText: 'optimistic note' }).waitFor();
    expect(await first!.evaluate(() => (globalThis as unknown as PageClient).chordClient.pending)).toBe(1);
    expect(held).toBe(1);
    expect(Object.keys((await chord.getContext(DEMO_BOARD_ID))!.context.notes as object)).toEqual([]);
    expect(await second!.locator('.note').count()).toBe(0);
    await first!.locator('#status', { hasText: '1 pending' }).waitFor();

    release();
    await second!.locator('.note .text', { hasText: 'optimistic note' }).waitFor();
    await first!.waitForFunction(() => (globalThis as unknown as PageClient).chordClient.pending === 0);
    const notes = (await chord.getContext(DEMO_BOARD_ID))!.context.notes as Record<string, { text: string }>;
    expect(Object.values(notes).map((n) => n.text)).toEqual(['optimistic note']);

    // A write the server refuses (not a valid note) shows, then goes again; the page stays as the server has it.
    const refusal = await first!.evaluate(async () => {
      const { chordClient } = globalThis as unknown as PageClient;
      const pending = chordClient.update({ notes: { bad: { text: 'no colour', x: 1, y: 1 } } });
      const shown = chordClient.state!.context.notes.bad !== undefined;
      const error = await pending.then(() => null, (e: { status?: number; serverCode?: string }) => ({ status: e.status, serverCode: e.serverCode }));
      return { shown, error, after: chordClient.state!.context.notes.bad === undefined, equal: JSON.stringify(chordClient.state) === JSON.stringify(chordClient.confirmed) };
    });
    expect(refusal).toEqual({ shown: true, error: { status: 403, serverCode: 'forbidden' }, after: true, equal: true });

    // The second window removes the note; it goes from both.
    await second!.locator('.note', { hasText: 'optimistic note' }).locator('.remove').click();
    for (const page of [first!, second!]) await page.locator('.note').first().waitFor({ state: 'detached' });
    expect((await chord.getContext(DEMO_BOARD_ID))!.context.notes).toEqual({});
    expect(pageErrors).toEqual([]);
  },
  120_000,
);
