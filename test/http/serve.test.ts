import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';
import { DEMO_BOARD_ID, runServe } from '../../src/cli/commands/serve.js';
import { recordingIo } from '../cli/io.js';
import { waitFor, within } from './support.js';

describe('chord-sync serve', () => {
  test('serves the page, the sync route and the note writes on a MemoryBackend until stopped', async () => {
    const io = recordingIo({});
    const stop = new AbortController();
    const running = runServe(['--port', '0'], io, stop.signal);
    try {
      await waitFor(() => /open (http:\/\/\S+)\//.test(io.stdout), 15_000, 'the URL to be printed');
      const url = /open (http:\/\/\S+)\//.exec(io.stdout)![1]!;
      expect(io.stdout).toContain('MemoryBackend');

      const page = await fetch(`${url}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      expect(html).toContain("import { ChordClient, unset } from '/lib/client/index.js'");
      expect(html).toContain(JSON.stringify(DEMO_BOARD_ID));

      // The page writes through the sync route (what its ChordClient sends); authorizeWrite takes only note writes.
      const board = `${url}/contexts/${encodeURIComponent(DEMO_BOARD_ID)}`;
      const post = (body: unknown): Promise<Response> =>
        fetch(board, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      const writer = { clientId: 'serve-test' };
      const write = await post({ kind: 'update', merge: { notes: { n1: { text: 'hi', x: 10, y: 20, color: '#fff8c5' } } }, unset: [], ...writer, writeId: 1 });
      expect(write.status).toBe(200);
      const read = async (): Promise<unknown> => ((await (await fetch(board)).json()) as { context: { context: unknown } }).context.context;
      expect(await read()).toEqual({ title: 'Live board', notes: { n1: { text: 'hi', x: 10, y: 20, color: '#fff8c5' } } });

      const remove = await post({ kind: 'update', merge: {}, unset: [['notes', 'n1']], ...writer, writeId: 2 });
      expect(remove.status).toBe(200);
      expect(await read()).toEqual({ title: 'Live board', notes: {} });

      const refusedNotes = [
        { kind: 'update', merge: { notes: { 'N/1': { text: 'x', x: 0, y: 0, color: '#fff8c5' } } }, unset: [] },
        { kind: 'update', merge: { notes: { n2: { text: 'x', x: 0, y: 0, color: 'red; background:url(x)' } } }, unset: [] },
        { kind: 'update', merge: { title: 'renamed' }, unset: [] },
        { kind: 'set', context: {} },
      ];
      for (const [i, bad] of refusedNotes.entries()) expect((await post({ ...bad, ...writer, writeId: 3 + i })).status).toBe(403);
      expect((await post('not json')).status).toBe(400);
      expect(await read()).toEqual({ title: 'Live board', notes: {} });
      // Only the client's own modules are served, never other files of the package.
      expect((await fetch(`${url}/lib/engine/chord.js`)).status).toBe(404);
      expect((await fetch(`${url}/lib/../package.json`)).status).toBe(404);
    } finally {
      stop.abort();
    }
    expect(await within(running, 10_000, 'serve to stop')).toBe(0);
    expect(io.stdout).toContain('stopped');
  });

  test('a bad --port is a usage error (exit 2); the command is listed by help', async () => {
    const io = recordingIo({});
    expect(await runServe(['--port', 'eighty'], io, new AbortController().signal)).toBe(2);
    expect(io.stderr).toContain('--port');
    const help = recordingIo({});
    expect(await main(['help'], help)).toBe(0);
    expect(help.stdout).toMatch(/^ {2}serve /m);
  });
});
