/**
 * Issue 18, point 3: a reconnect storm during an outage. With the database down, the SSE route
 * answered 200, sent `: connected` and closed; the client took that as a healthy stream, reset its
 * backoff and came straight back (50 clients made 2,058 requests in 15 s) and its `onError` heard
 * nothing. Now the route answers 503 with `retry-after` when the watch cannot start, and the client
 * backs off unless a stream delivered an event, telling `onError` each time.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { ChordClient, ChordClientError } from '../../src/client/index.js';
import { Chord } from '../../src/engine/chord.js';
import { createSyncHandler } from '../../src/http/index.js';
import { type TestServer, startServer } from './support.js';

const CLIENTS = 20;
const WINDOW_MS = 3_000;
const INITIAL_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 800;

/**
 * The most connections one client may open in `windowMs` if every attempt failed: the first at
 * once, then one after each pause, a pause being at least half of min(max, initial × 2^attempt).
 */
function backoffBound(windowMs: number): number {
  let requests = 1;
  let elapsed = 0;
  for (let attempt = 1; ; attempt++) {
    elapsed += Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** attempt) / 2;
    if (elapsed > windowMs) return requests;
    requests++;
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Runs CLIENTS clients against `url` for WINDOW_MS and returns what each one's onError heard, and
 * `count()` at the end of the window; then, on a loaded machine, waits (bounded) until every
 * client heard at least once before closing them.
 */
async function storm(url: string, count: () => number): Promise<{ heard: unknown[][]; counted: number }> {
  const heard: unknown[][] = Array.from({ length: CLIENTS }, () => []);
  const clients = heard.map(
    (errors, i) =>
      new ChordClient({
        url,
        contextId: `room:${i % 3}`,
        initialBackoffMs: INITIAL_BACKOFF_MS,
        maxBackoffMs: MAX_BACKOFF_MS,
        onError: (error) => errors.push(error),
      }),
  );
  await new Promise((resolve) => setTimeout(resolve, WINDOW_MS));
  const counted = count();
  const deadline = Date.now() + 15_000;
  while (heard.some((errors) => errors.length === 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  for (const client of clients) client.close();
  return { heard, counted };
}

describe('reconnect storm during an outage', () => {
  test(`database down: the stream is answered 503 with retry-after; ${CLIENTS} clients stay within their backoff and each onError hears it`, { timeout: 30_000 }, async () => {
    // A real outage: nothing listens on port 1, so every connection is refused at once.
    const backend = new PrismaBackend({ connectionString: 'postgresql://postgres@127.0.0.1:1/none', connectTimeoutMs: 1_000 });
    cleanups.push(() => backend.close());
    const serverErrors: unknown[] = [];
    const handler = createSyncHandler(new Chord({ backend }), { onError: (error) => serverErrors.push(error) });
    let requestCount = 0;
    const server: TestServer = await startServer(async (request) => {
      requestCount++;
      return handler(request);
    });
    cleanups.push(() => server.close());


    const { heard, counted: requests } = await storm(`${server.url}/contexts`, () => requestCount);
    const bound = CLIENTS * backoffBound(WINDOW_MS);
    console.log(`outage figures: database down, ${CLIENTS} clients, ${WINDOW_MS} ms: ${requests} requests (bound ${bound}), onError calls ${heard.map((e) => e.length).join(' ')}`);
    expect(requests, `requests from ${CLIENTS} clients in ${WINDOW_MS} ms (backoff allows at most ${bound})`).toBeLessThanOrEqual(bound);
    for (const errors of heard) {
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]).toBeInstanceOf(ChordClientError);
      expect((errors[0] as ChordClientError).status).toBe(503);
    }
    // An outage is the client's to retry, not a server fault to log once per attempt.
    expect(serverErrors).toEqual([]);
    const one = await fetch(`${server.url}/contexts/room%3A1`, { headers: { accept: 'text/event-stream' } });
    expect({ status: one.status, retryAfter: one.headers.get('retry-after'), code: ((await one.json()) as { error: { code: string } }).error.code }).toEqual({
      status: 503,
      retryAfter: '5',
      code: 'unavailable',
    });
  });

  test(`a server (or proxy) that answers 200 and closes before any event: ${CLIENTS} clients back off and onError hears it`, { timeout: 30_000 }, async () => {
    let requestCount = 0;
    const server = createServer((_req, res) => {
      requestCount++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(': connected\n\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const { heard, counted: requests } = await storm(`http://127.0.0.1:${port}/contexts`, () => requestCount);
    const bound = CLIENTS * backoffBound(WINDOW_MS);
    console.log(`outage figures: 200 then close, ${CLIENTS} clients, ${WINDOW_MS} ms: ${requests} requests (bound ${bound}), onError calls ${heard.map((e) => e.length).join(' ')}`);
    expect(requests, `requests from ${CLIENTS} clients in ${WINDOW_MS} ms (backoff allows at most ${bound})`).toBeLessThanOrEqual(bound);
    for (const errors of heard) {
      expect(errors.length).toBeGreaterThan(0);
      expect(String((errors[0] as Error).message)).toMatch(/ended by the server before any event/);
    }
  });
});
