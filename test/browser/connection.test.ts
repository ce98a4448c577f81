/**
 * Many contexts, one connection, in Chromium: pages bundled with Vite (test/browser/pages/), served
 * by a test server that counts its open SSE streams, with the handler's `watch` iterators counted
 * too. Over HTTP/1.1, and over HTTP/2 with a self-signed certificate (that browser alone is started
 * with --ignore-certificate-errors).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { type Http2ServerRequest, type Http2ServerResponse, createSecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { Chord } from '../../src/engine/chord.js';
import { createSyncHandler, toNodeHandler } from '../../src/http/index.js';
import { waitFor } from '../http/support.js';
import { NO_OPENSSL, type TestCertificate, makeCertificate } from '../http/tls.js';
import { type CountingSource, countingWatches } from '../support/counting-source.js';
import { bundlePages } from './bundle.js';
import { NO_BROWSER, launchChromium } from './support.js';

const CONTEXTS = 20;
const ids = Array.from({ length: CONTEXTS }, (_, i) => `room:${i + 1}`);

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let pages: { dir: string; remove(): void } | undefined;
beforeAll(async () => {
  if (NO_BROWSER === undefined) pages = await bundlePages({ connection: 'connection-page.ts', react: 'react-page.ts' });
}, 180_000);
afterAll(() => pages?.remove());

/** The page server: `/<page>.html?ids=…`, the bundles, and the sync route with writes; counts its open SSE streams. */
interface PageServer {
  readonly url: string;
  readonly chord: Chord;
  readonly watches: CountingSource;
  /** SSE responses open now, the most open at once, and how many were opened in all. */
  streams(): { open: number; peak: number; total: number };
  close(): Promise<void>;
}

async function startPageServer(options: { certificate?: TestCertificate } = {}): Promise<PageServer> {
  const chord = new Chord();
  for (const [i, id] of ids.entries()) await chord.setContext(id, { room: i + 1, n: 0 });
  const watches = countingWatches(chord);
  const sync = toNodeHandler(createSyncHandler(watches.source, { authorizeWrite: () => true }));
  let open = 0;
  let peak = 0;
  let total = 0;
  const listener = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://page');
    if (url.pathname.startsWith('/contexts')) {
      if ((req.headers.accept ?? '').includes('text/event-stream')) {
        open++;
        total++;
        peak = Math.max(peak, open);
        res.once('close', () => open--);
      }
      sync(req, res);
      return;
    }
    const send = (status: number, type: string, body: string | Buffer): void => {
      (res as ServerResponse).writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const html = /^\/(connection|react)\.html$/.exec(url.pathname);
    if (html !== null) return send(200, 'text/html; charset=utf-8', `<!doctype html><meta charset="utf-8"><title>${html[1]}</title><body><script type="module" src="/${html[1]}.js"></script></body>`);
    const file = /^\/([\w-]+\.js)$/.exec(url.pathname);
    if (file !== null && existsSync(join(pages!.dir, file[1]!))) {
      void readFile(join(pages!.dir, file[1]!)).then((body) => send(200, 'text/javascript; charset=utf-8', body));
      return;
    }
    send(404, 'text/plain', 'not found');
  };
  const { certificate } = options;
  const server =
    certificate === undefined
      ? createServer(listener)
      : createSecureServer({ allowHTTP1: true, cert: certificate.cert, key: certificate.key }, listener);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${certificate === undefined ? 'http' : 'https'}://127.0.0.1:${(server.address() as AddressInfo).port}`,
    chord,
    watches,
    streams: () => ({ open, peak, total }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** Waits until every `[data-id]` element of `ids` shows the server's version of its context. */
async function showsServer(page: Page, server: PageServer, which: readonly string[]): Promise<void> {
  for (const id of which) {
    const record = await server.chord.getContext(id);
    await page.locator(`[data-id="${id}"][data-version="${record!.version}"]`).waitFor();
  }
}

async function openPage(server: PageServer, name: 'connection' | 'react', extraArgs: string[] = []): Promise<{ page: Page; errors: string[] }> {
  const browser = await launchChromium(undefined, extraArgs);
  cleanups.push(() => browser.close());
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.setDefaultTimeout(20_000);
  await page.goto(`${server.url}/${name}.html?ids=${encodeURIComponent(ids.join(','))}`);
  return { page, errors };
}

/** The 20-context page: all show the server's state through one stream, follow live writes, and a write through the page lands. */
async function followTwentyAndWrite(server: PageServer, page: Page, protocol: string): Promise<void> {
  await showsServer(page, server, ids);
  expect(server.watches.open()).toBe(CONTEXTS);
  expect(server.streams().peak, 'SSE streams ever open at once').toBe(1);
  // A server write to each, live.
  for (const id of ids) await server.chord.updateContext(id, { n: 1 });
  await showsServer(page, server, ids);
  // A write through the page's client on one context: confirmed, stored, and shown.
  const version = await page.evaluate(async () => (globalThis as unknown as { chordPage: { update(id: string, c: object): Promise<number> } }).chordPage.update('room:7', { note: 'from the page' }));
  expect(await server.chord.getContext('room:7')).toMatchObject({ version, context: { room: 7, n: 1, note: 'from the page' } });
  await showsServer(page, server, ['room:7']);
  const states = await page.evaluate(() => (globalThis as unknown as { chordPage: { states(): Record<string, { context: unknown; version: number } | null> } }).chordPage.states());
  for (const id of ids) {
    const record = await server.chord.getContext(id);
    expect(states[id], `${id} over ${protocol}`).toMatchObject({ context: record!.context, version: record!.version });
  }
  expect(server.streams().peak, 'SSE streams ever open at once').toBe(1);
}

describe.skipIf(NO_BROWSER !== undefined)(`Chromium: many contexts through one ChordConnection${NO_BROWSER === undefined ? '' : ` (skipped: ${NO_BROWSER})`}`, () => {
  test('over HTTP/1.1: a page follows 20 contexts on one SSE stream, all show the server state as it changes, and its write lands', async () => {
    const server = await startPageServer();
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, 'connection');
    await followTwentyAndWrite(server, page, 'HTTP/1.1');
    expect(errors).toEqual([]);
  }, 120_000);

  test.skipIf(NO_OPENSSL !== undefined)(`over HTTP/2 with a self-signed certificate: the same page works${NO_OPENSSL === undefined ? '' : ` (skipped: ${NO_OPENSSL})`}`, async () => {
    const certificate = makeCertificate();
    cleanups.push(() => certificate.remove());
    const server = await startPageServer({ certificate });
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, 'connection', ['--ignore-certificate-errors']);
    // The page really came over HTTP/2.
    expect(await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol)).toBe('h2');
    await followTwentyAndWrite(server, page, 'HTTP/2');
    expect(errors).toEqual([]);
  }, 120_000);

  test('React (bundled with Vite): 20 components with useChordContext, half unmounted — their contexts are released, the rest update live and write', async () => {
    const server = await startPageServer();
    cleanups.push(() => server.close());
    const { page, errors } = await openPage(server, 'react');
    await showsServer(page, server, ids);
    expect(server.watches.open(), 'watchers with 20 mounted').toBe(CONTEXTS);
    expect(server.streams()).toEqual({ open: 1, peak: 1, total: 1 });

    await page.evaluate((count) => (globalThis as unknown as { chordPage: { mount(n: number): void } }).chordPage.mount(count), CONTEXTS / 2);
    await page.locator(`[data-id="${ids[CONTEXTS / 2]}"]`).waitFor({ state: 'detached' });
    await waitFor(() => server.watches.open() === CONTEXTS / 2, 20_000, `the watchers to drop to ${CONTEXTS / 2} (${server.watches.open()})`);
    // Ten unmounts in one commit cost one reopened stream, which follows the ten left. (The
    // server may see the new stream arrive just before the old one's close: the count is read
    // once it settled.)
    await waitFor(() => server.streams().open === 1 && server.streams().total === 2, 20_000, `the stream reopened once (${JSON.stringify(server.streams())})`);

    const remaining = ids.slice(0, CONTEXTS / 2);
    for (const id of ids) await server.chord.updateContext(id, { n: 2 });
    await showsServer(page, server, remaining);
    const version = await page.evaluate(async () => (globalThis as unknown as { chordPage: { update(id: string, c: object): Promise<number> } }).chordPage.update('room:3', { note: 'from a component' }));
    expect(await server.chord.getContext('room:3')).toMatchObject({ version, context: { room: 3, n: 2, note: 'from a component' } });
    await showsServer(page, server, ['room:3']);
    expect(await page.locator('.room').count()).toBe(CONTEXTS / 2);
    expect(server.watches.open()).toBe(CONTEXTS / 2);
    expect(errors).toEqual([]);
  }, 120_000);
});
