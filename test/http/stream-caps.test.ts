/**
 * Issue 18, point 4: one client could take every stream (`maxStreams` was one global counter), and
 * streams on ids that never exist waited forever. Now: a per-client cap (keyed by `clientKey`,
 * default the remote address `toNodeHandler` records), a per-context cap, and a bounded wait for
 * a context that does not exist, after which its stream ends without an event.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { Chord } from '../../src/engine/chord.js';
import { type SyncHandlerOptions, createSyncHandler, remoteAddress } from '../../src/http/index.js';
import { type SseReader, type TestServer, readSse, startServer } from './support.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(options: SyncHandlerOptions): Promise<{ chord: Chord; server: TestServer }> {
  const chord = new Chord();
  const server = await startServer(createSyncHandler(chord, options));
  cleanups.push(() => server.close());
  return { chord, server };
}

/** Opens a stream on `id`; an accepted one is read in the background and cancelled after the test. */
async function open(server: TestServer, id: string, headers: Record<string, string> = {}): Promise<{ status: number; code?: string; stream?: SseReader }> {
  const response = await fetch(`${server.url}/contexts/${encodeURIComponent(id)}`, { headers: { accept: 'text/event-stream', ...headers } });
  if (response.status !== 200) return { status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code };
  const stream = readSse(response);
  cleanups.push(() => stream.cancel());
  return { status: 200, stream };
}

describe('stream caps', () => {
  test('per client (default key: the remote address toNodeHandler records): the client past its cap is answered 429; other clients still get streams', { timeout: 30_000 }, async () => {
    const { chord, server } = await serve({ maxStreams: 10, maxStreamsPerClient: 3 });
    await chord.setContext('a', { n: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await open(server, 'a')).status);
    // Every request here comes from 127.0.0.1: one client, capped at 3 of the 10 streams.
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect((await open(server, 'a')).code).toBe('unavailable');
  });

  test('per client by clientKey: one client filling its share leaves the rest of maxStreams to others', { timeout: 30_000 }, async () => {
    const { chord, server } = await serve({ maxStreams: 6, maxStreamsPerClient: 2, clientKey: (request) => request.headers.get('x-client') ?? remoteAddress(request) });
    await chord.setContext('a', { n: 1 });
    const greedy: number[] = [];
    for (let i = 0; i < 6; i++) greedy.push((await open(server, 'a', { 'x-client': 'greedy' })).status);
    expect(greedy).toEqual([200, 200, 429, 429, 429, 429]);
    const others = await Promise.all(['b1', 'b2', 'c1', 'c2'].map(async (name) => (await open(server, 'a', { 'x-client': name.slice(0, 1) })).status));
    expect(others).toEqual([200, 200, 200, 200]);
    // maxStreams still holds overall.
    expect((await open(server, 'a', { 'x-client': 'd' })).status).toBe(503);
  });

  test('per context: past maxStreamsPerContext a stream on that id is answered 503; another id is served', { timeout: 30_000 }, async () => {
    const { chord, server } = await serve({ maxStreamsPerContext: 2 });
    await chord.setContext('hot', { n: 1 });
    await chord.setContext('cold', { n: 1 });
    const hot = [await open(server, 'hot'), await open(server, 'hot'), await open(server, 'hot')];
    expect(hot.map((r) => r.status)).toEqual([200, 200, 503]);
    expect((await open(server, 'cold')).status).toBe(200);
    // A slot comes back when a stream ends.
    await hot[0]?.stream?.cancel();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await open(server, 'hot')).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(200);
  });

  test('an id that does not exist is waited for missingContextWaitMs, then its stream ends without an event and gives its slot back; one created meanwhile is streamed', { timeout: 30_000 }, async () => {
    const { chord, server } = await serve({ missingContextWaitMs: 300, maxStreamsPerClient: 2 });
    const never = await open(server, 'never');
    expect(never.status).toBe(200);
    await never.stream?.ended(10_000);
    expect(never.stream?.events).toEqual([]);
    expect(never.stream?.text()).toMatch(/context does not exist/);
    const soon = await open(server, 'soon');
    expect(soon.status).toBe(200);
    await chord.setContext('soon', { here: true });
    const [event] = (await soon.stream?.waitForEvents(1)) ?? [];
    expect(event?.event).toBe('full');
    // The ended stream gave its slot back: this client can still open its second stream.
    const again = await open(server, 'never');
    expect(again.status).toBe(200);
    await again.stream?.ended(10_000);
  });

  test('the cap options are checked', () => {
    const chord = new Chord();
    for (const [options, argument] of [
      [{ maxStreamsPerClient: 0 }, 'options.maxStreamsPerClient'],
      [{ maxStreamsPerContext: 1.5 }, 'options.maxStreamsPerContext'],
      [{ missingContextWaitMs: -1 }, 'options.missingContextWaitMs'],
      [{ clientKey: 'ip' }, 'options.clientKey'],
    ] as const) {
      expect(() => createSyncHandler(chord, options as never)).toThrow(expect.objectContaining({ argument }));
    }
  });
});

describe('one epoch limit for the route and the engine (issue 18, point 5)', () => {
  test('an epoch over the engine\'s limit is refused by the route as query.epoch, on the JSON route and the stream alike; one at the limit reaches the engine', { timeout: 30_000 }, async () => {
    const { chord, server } = await serve({});
    await chord.setContext('e', { n: 1 });
    for (const accept of ['application/json', 'text/event-stream']) {
      const long = await fetch(`${server.url}/contexts/e?version=1&epoch=${'x'.repeat(129)}`, { headers: { accept } });
      expect(long.status).toBe(400);
      expect(((await long.json()) as { error: { message: string } }).error.message).toMatch(/query\.epoch/);
    }
    const atLimit = await fetch(`${server.url}/contexts/e?version=1&epoch=${'x'.repeat(128)}`);
    expect(atLimit.status).toBe(200);
    expect(((await atLimit.json()) as { kind: string }).kind).toBe('full');
  });
});
