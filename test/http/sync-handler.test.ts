import { connect } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { Chord } from '../../src/engine/chord.js';
import { ValidationError } from '../../src/errors.js';
import { createSyncHandler, type SyncHandlerOptions, type SyncSource } from '../../src/http/index.js';
import type { LiveUpdate, WatchOptions } from '../../src/live/index.js';
import { DATABASE_TEST_TIMEOUT_MS, liveTargets, readSse, startServer, type TestServer, waitFor, within } from './support.js';
import { forTarget } from '../support/named.js';

/** A `Chord` seen through the handler's eyes, counting what the handler asked of it. */
interface Spy extends SyncSource {
  readonly calls: { sync: number; watch: number; next: number; watchesEnded: number };
}

function spyOn(chord: Chord): Spy {
  const calls = { sync: 0, watch: 0, next: 0, watchesEnded: 0 };
  return {
    calls,
    syncContext(id, version, options) {
      calls.sync++;
      return (chord.syncContext as (...args: unknown[]) => ReturnType<Chord['syncContext']>)(id, version, options);
    },
    watch(id: string, options?: WatchOptions) {
      calls.watch++;
      const inner = chord.watch(id, options);
      let ended = false;
      const end = (): void => {
        if (!ended) {
          ended = true;
          calls.watchesEnded++;
        }
      };
      options?.signal?.addEventListener('abort', end, { once: true });
      const wrapped: AsyncIterableIterator<LiveUpdate> = {
        [Symbol.asyncIterator]: () => wrapped,
        next: async () => {
          calls.next++;
          const result = await inner.next();
          if (result.done === true) end();
          return result;
        },
        return: async () => {
          end();
          return (await inner.return?.()) ?? { done: true, value: undefined };
        },
      };
      return wrapped;
    },
  };
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function serve(source: SyncSource, options?: SyncHandlerOptions): Promise<TestServer> {
  const server = await startServer(createSyncHandler(source, { onError: () => {}, ...options }));
  open.push(server);
  return server;
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  return body.error;
}

const SSE = { accept: 'text/event-stream' };
const path = (id: string, query = ''): string => `/contexts/${encodeURIComponent(id)}${query}`;

for (const target of liveTargets()) {
  describe(`sync route on ${target.label}`, { timeout: DATABASE_TEST_TIMEOUT_MS }, () => {
    const { test } = forTarget(target.label);
    let backend: ChordBackend | undefined;
    afterEach(async () => {
      if (backend !== undefined) await (target.harness.dispose ?? ((b: ChordBackend) => (b as { close?: () => Promise<void> }).close?.()))(backend);
      backend = undefined;
    });
    async function makeChord(): Promise<Chord> {
      backend = await target.harness.makeBackend({ clock: Date.now });
      const chord = new Chord({ backend, watchPollMs: 50 });
      return chord;
    }

    test('GET answers 200 with the SyncResult as JSON: full, delta, no_change, and full for another epoch', async () => {
      const chord = await makeChord();
      const server = await serve(chord);
      await chord.setContext('room', { a: 1 });
      await chord.updateContext('room', { b: 2 });
      const epoch = (await chord.getContext('room'))!.epoch!;

      const full = await fetch(`${server.url}${path('room')}`);
      expect(full.status).toBe(200);
      expect(full.headers.get('content-type')).toMatch(/^application\/json/);
      const fullBody = (await full.json()) as { kind: string; context: { context: unknown; version: number; epoch: string } };
      expect(fullBody.kind).toBe('full');
      expect(fullBody.context).toMatchObject({ contextId: 'room', context: { a: 1, b: 2 }, version: 2, epoch });

      const delta = (await (await fetch(`${server.url}${path('room', `?version=1&epoch=${encodeURIComponent(epoch)}`)}`)).json()) as Record<string, unknown>;
      expect(delta).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
      expect(delta).toEqual(JSON.parse(JSON.stringify(await chord.syncContext('room', 1))));

      const same = (await (await fetch(`${server.url}${path('room', '?version=2')}`)).json()) as Record<string, unknown>;
      expect(same).toMatchObject({ kind: 'no_change', version: 2 });

      const otherLife = (await (await fetch(`${server.url}${path('room', '?version=2&epoch=an-earlier-life')}`)).json()) as Record<string, unknown>;
      expect(otherLife.kind).toBe('full');
    });

    test('an unknown id is 404 not_found with a JSON error body', async () => {
      const chord = await makeChord();
      const server = await serve(chord);
      const response = await fetch(`${server.url}${path('nobody:here')}`);
      expect(response.status).toBe(404);
      const error = await errorOf(response);
      expect(error.code).toBe('not_found');
      expect(error.message).toContain('nobody:here');
    });

    test('ids with any characters round-trip through encodeURIComponent', async () => {
      const chord = await makeChord();
      const server = await serve(chord);
      const ids = ['a/b?c#d', 'user:42:presence', '100%_"quoted"', 'café ünïcode 🎲', ' spaced ', '.hidden'];
      for (const id of ids) await chord.setContext(id, { id });
      for (const id of ids) {
        const body = (await (await fetch(`${server.url}${path(id)}`)).json()) as { context: { contextId: string; context: unknown } };
        expect(body.context.contextId).toBe(id);
        expect(body.context.context).toEqual({ id });
      }
    });
  });
}

describe('sync route refusals (memory)', () => {
  test('authorize refusing is 403 forbidden; it sees the request and the decoded id; nothing is read', async () => {
    const chord = new Chord();
    await chord.setContext('secret/room', { x: 1 });
    const spy = spyOn(chord);
    const seen: Array<[string, string | null]> = [];
    const server = await serve(spy, {
      authorize: async (request, contextId) => {
        seen.push([contextId, request.headers.get('authorization')]);
        return request.headers.get('authorization') === 'Bearer ok';
      },
    });
    const refused = await fetch(`${server.url}${path('secret/room')}`, { headers: { authorization: 'Bearer nope' } });
    expect(refused.status).toBe(403);
    expect((await errorOf(refused)).code).toBe('forbidden');
    const refusedStream = await fetch(`${server.url}${path('secret/room')}`, { headers: { ...SSE, authorization: 'Bearer nope' } });
    expect(refusedStream.status).toBe(403);
    expect(spy.calls).toMatchObject({ sync: 0, watch: 0 });
    expect(seen).toEqual([
      ['secret/room', 'Bearer nope'],
      ['secret/room', 'Bearer nope'],
    ]);
    const allowed = await fetch(`${server.url}${path('secret/room')}`, { headers: { authorization: 'Bearer ok' } });
    expect(allowed.status).toBe(200);
    expect(spy.calls.sync).toBe(1);
  });

  const badRequests: Array<[string, string, Record<string, string>, string]> = [
    ['an empty id', '/contexts/', {}, 'contextId'],
    ['an id that is two path segments', '/contexts/a/b', {}, 'contextId'],
    ['an id that is not valid percent-encoding', '/contexts/%E0%A4%A', {}, 'contextId'],
    ['an id with a NUL character', '/contexts/a%00b', {}, 'contextId'],
    ['an id longer than 512 characters', `/contexts/${'x'.repeat(513)}`, {}, 'contextId'],
    ['a negative version', '/contexts/room?version=-1', {}, 'query.version'],
    ['a fractional version', '/contexts/room?version=1.5', {}, 'query.version'],
    ['a version that is not a number', '/contexts/room?version=abc', {}, 'query.version'],
    ['a version with a leading zero', '/contexts/room?version=01', {}, 'query.version'],
    ['an empty version', '/contexts/room?version=', {}, 'query.version'],
    ['a version past MAX_SAFE_INTEGER', '/contexts/room?version=9007199254740992', {}, 'query.version'],
    ['a version given twice', '/contexts/room?version=1&version=2', {}, 'query.version'],
    ['an empty epoch', '/contexts/room?version=1&epoch=', {}, 'query.epoch'],
    ['an epoch without a version', '/contexts/room?epoch=e1', {}, 'query.epoch'],
    ['an epoch of 201 characters', `/contexts/room?version=1&epoch=${'e'.repeat(201)}`, {}, 'query.epoch'],
    ['an epoch with a control character', '/contexts/room?version=1&epoch=a%0Ab', {}, 'query.epoch'],
    ['an unknown query parameter', '/contexts/room?since=3', {}, 'query.since'],
    ['a Last-Event-ID without a colon', '/contexts/room', { ...SSE, 'last-event-id': 'abc' }, 'Last-Event-ID'],
    ['a Last-Event-ID with a bad version', '/contexts/room', { ...SSE, 'last-event-id': 'e1:x' }, 'Last-Event-ID'],
    ['a Last-Event-ID with a negative version', '/contexts/room', { ...SSE, 'last-event-id': 'e1:-1' }, 'Last-Event-ID'],
    ['a bad version on the SSE route', '/contexts/room?version=x', SSE, 'query.version'],
  ];
  for (const [what, url, headers, argument] of badRequests) {
    test(`${what} is 400 invalid_argument naming ${argument}, and nothing else happens`, async () => {
      const chord = new Chord();
      await chord.setContext('room', { x: 1 });
      const before = await chord.getContext('room');
      const spy = spyOn(chord);
      let authorized = 0;
      const server = await serve(spy, { authorize: () => (authorized++, true) });
      const response = await fetch(`${server.url}${url}`, { headers });
      expect(response.status).toBe(400);
      const error = await errorOf(response);
      expect(error.code).toBe('invalid_argument');
      expect(error.message).toContain(argument);
      expect(authorized).toBe(0);
      expect(spy.calls).toEqual({ sync: 0, watch: 0, next: 0, watchesEnded: 0 });
      expect(await chord.getContext('room')).toEqual(before);
    });
  }

  test('a method other than GET is 405 with Allow: GET; a path outside basePath is 404', async () => {
    const chord = new Chord();
    await chord.setContext('room', { x: 1 });
    const spy = spyOn(chord);
    const server = await serve(spy, { basePath: '/api/sync' });
    const post = await fetch(`${server.url}/api/sync/room`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect((await errorOf(post)).code).toBe('method_not_allowed');
    const elsewhere = await fetch(`${server.url}/contexts/room`);
    expect(elsewhere.status).toBe(404);
    expect((await errorOf(elsewhere)).code).toBe('not_found');
    expect((await fetch(`${server.url}/api/sync/room`)).status).toBe(200);
    expect(spy.calls.sync).toBe(1);
  });

  test('an authorize that throws is 500 internal, reported to onError, with no detail to the client', async () => {
    const chord = new Chord();
    const errors: unknown[] = [];
    const server = await startServer(
      createSyncHandler(chord, {
        authorize: () => {
          throw new Error('token service down at 10.0.0.7');
        },
        onError: (error) => errors.push(error),
      }),
    );
    open.push(server);
    const response = await fetch(`${server.url}${path('room')}`);
    expect(response.status).toBe(500);
    const error = await errorOf(response);
    expect(error.code).toBe('internal');
    expect(error.message).not.toContain('10.0.0.7');
    expect(errors).toHaveLength(1);
  });

  test('past maxStreams a stream request is 503 unavailable; a closed stream frees its slot', async () => {
    const chord = new Chord();
    await chord.setContext('room', { x: 1 });
    const spy = spyOn(chord);
    const server = await serve(spy, { maxStreams: 2 });
    const first = readSse(await fetch(`${server.url}${path('room')}`, { headers: SSE }));
    const second = readSse(await fetch(`${server.url}${path('room')}`, { headers: SSE }));
    await first.waitForEvents(1);
    await second.waitForEvents(1);
    const third = await fetch(`${server.url}${path('room')}`, { headers: SSE });
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).not.toBeNull();
    expect((await errorOf(third)).code).toBe('unavailable');
    // JSON requests are not streams and are not counted.
    expect((await fetch(`${server.url}${path('room')}`)).status).toBe(200);
    await first.cancel();
    await waitFor(() => spy.calls.watchesEnded === 1, 5_000, 'the closed stream to end its watch');
    const again = await fetch(`${server.url}${path('room')}`, { headers: SSE });
    expect(again.status).toBe(200);
    await readSse(again).cancel();
    await second.cancel();
  });

  test('a watch that refuses at once answers its error and gives the stream slot back', async () => {
    const chord = new Chord();
    await chord.setContext('room', { x: 1 });
    let refuse = true;
    const source: SyncSource = {
      syncContext: (id, version) => chord.syncContext(id, version),
      watch(id, options) {
        if (refuse) {
          refuse = false;
          throw new ValidationError('options.epoch', 'refused by this test');
        }
        return chord.watch(id, options);
      },
    };
    const server = await serve(source, { maxStreams: 1 });
    const refused = await fetch(`${server.url}${path('room')}`, { headers: SSE });
    expect(refused.status).toBe(400);
    expect((await errorOf(refused)).message).toContain('options.epoch');
    const accepted = await fetch(`${server.url}${path('room')}`, { headers: SSE });
    expect(accepted.status).toBe(200);
    await readSse(accepted).cancel();
  });

  test('options are checked: unknown keys, a bad basePath or heartbeat are ValidationErrors naming the option', () => {
    const chord = new Chord();
    expect(() => createSyncHandler(chord, { basePth: '/x' } as never)).toThrow(/options\.basePth/);
    expect(() => createSyncHandler(chord, { basePath: 'contexts' })).toThrow(/options\.basePath/);
    expect(() => createSyncHandler(chord, { basePath: '/contexts/' })).toThrow(/options\.basePath/);
    expect(() => createSyncHandler(chord, { heartbeatMs: 0 })).toThrow(/options\.heartbeatMs/);
    expect(() => createSyncHandler(chord, { maxStreams: 1.5 })).toThrow(/options\.maxStreams/);
    expect(() => createSyncHandler(chord, { authorize: 'yes' as never })).toThrow(/options\.authorize/);
  });
});

describe('SSE stream (memory)', () => {
  test('framing: event is the kind, id is <epoch>:<version>, data is the update as JSON; deleted has no id', async () => {
    const chord = new Chord();
    const server = await serve(chord);
    const response = await fetch(`${server.url}${path('room:1')}`, { headers: SSE });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toContain('no-cache');
    const sse = readSse(response);
    await waitFor(() => sse.text().length > 0, 5_000, 'the first bytes');
    expect(sse.text()).toBe(': connected\n\n');

    // A stream on an id that does not exist yet waits for it.
    const v1 = await chord.setContext('room:1', { title: 'Lobby' });
    const epoch = v1.context.epoch!;
    const [full] = await sse.waitForEvents(1);
    expect(full!.event).toBe('full');
    expect(full!.id).toBe(`${epoch}:1`);
    expect(JSON.parse(full!.data)).toEqual({ kind: 'full', context: JSON.parse(JSON.stringify(v1.context)) });
    expect(sse.text()).toContain(`event: full\nid: ${epoch}:1\ndata: ${full!.data}\n\n`);

    await chord.updateContext('room:1', { topic: 'sync' });
    const [, delta] = await sse.waitForEvents(2);
    expect(delta!.event).toBe('delta');
    expect(delta!.id).toBe(`${epoch}:2`);
    expect(JSON.parse(delta!.data)).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2, epoch });

    await chord.deleteContext('room:1');
    const [, , deleted] = await sse.waitForEvents(3);
    expect(deleted!.event).toBe('deleted');
    expect(deleted!.id).toBeUndefined();
    expect(JSON.parse(deleted!.data)).toEqual({ kind: 'deleted', contextId: 'room:1' });
    expect(sse.text()).toContain(`event: deleted\ndata: ${deleted!.data}\n\n`);
    expect(sse.text().split('event: deleted')[1]).not.toContain('\nid:');

    // Re-created: a new life, announced in full with its new epoch.
    const again = await chord.setContext('room:1', { title: 'New' });
    const [, , , reborn] = await sse.waitForEvents(4);
    expect(reborn!.event).toBe('full');
    expect(reborn!.id).toBe(`${again.context.epoch}:1`);
    expect(again.context.epoch).not.toBe(epoch);
    await sse.cancel();
  });

  test('resume from Last-Event-ID: the first event is one delta from that version; another epoch gets full; it wins over the query', async () => {
    const chord = new Chord();
    const server = await serve(chord);
    for (let i = 1; i <= 4; i++) await chord.setContext('room', { n: i });
    const epoch = (await chord.getContext('room'))!.epoch!;

    const resumed = readSse(await fetch(`${server.url}${path('room', '?version=1')}`, { headers: { ...SSE, 'last-event-id': `${epoch}:2` } }));
    const [first] = await resumed.waitForEvents(1);
    expect(first!.event).toBe('delta');
    expect(JSON.parse(first!.data)).toMatchObject({ fromVersion: 2, version: 4, epoch });
    expect(first!.id).toBe(`${epoch}:4`);
    await resumed.cancel();

    const stale = readSse(await fetch(`${server.url}${path('room')}`, { headers: { ...SSE, 'last-event-id': `old-epoch:2` } }));
    const [full] = await stale.waitForEvents(1);
    expect(full!.event).toBe('full');
    expect(JSON.parse(full!.data).context).toMatchObject({ version: 4, context: { n: 4 } });
    await stale.cancel();

    // Resuming at the current version sends nothing until the next change.
    const current = readSse(await fetch(`${server.url}${path('room')}`, { headers: { ...SSE, 'last-event-id': `${epoch}:4` } }));
    await chord.setContext('room', { n: 5 });
    const [next] = await current.waitForEvents(1);
    expect(JSON.parse(next!.data)).toMatchObject({ kind: 'delta', fromVersion: 4, version: 5 });
    await current.cancel();

    // The query is the starting point when there is no Last-Event-ID.
    const fromQuery = readSse(await fetch(`${server.url}${path('room', `?version=3&epoch=${epoch}`)}`, { headers: SSE }));
    const [q] = await fromQuery.waitForEvents(1);
    expect(JSON.parse(q!.data)).toMatchObject({ kind: 'delta', fromVersion: 3, version: 5 });
    await fromQuery.cancel();
  });

  test('resuming a version of a context deleted meanwhile yields deleted first', async () => {
    const chord = new Chord();
    const server = await serve(chord);
    const { context } = await chord.setContext('room', { n: 1 });
    await chord.deleteContext('room');
    const sse = readSse(await fetch(`${server.url}${path('room')}`, { headers: { ...SSE, 'last-event-id': `${context.epoch}:1` } }));
    const [deleted] = await sse.waitForEvents(1);
    expect(deleted!.event).toBe('deleted');
    await sse.cancel();
  });

  test('heartbeat comment lines arrive every heartbeatMs while nothing changes', async () => {
    const chord = new Chord();
    await chord.setContext('room', { n: 1 });
    const server = await serve(chord, { heartbeatMs: 30 });
    const sse = readSse(await fetch(`${server.url}${path('room')}`, { headers: SSE }));
    await sse.waitForEvents(1);
    await waitFor(() => sse.comments.filter((c) => c === ': heartbeat').length >= 3, 5_000, 'three heartbeats');
    expect(sse.events).toHaveLength(1);
    await sse.cancel();
  });

  test('a closed connection ends the stream and its watch (raw socket destroyed)', async () => {
    const chord = new Chord();
    await chord.setContext('room', { n: 1 });
    const spy = spyOn(chord);
    const server = await serve(spy, { maxStreams: 1 });
    const socket = connect(server.port, '127.0.0.1');
    socket.write(`GET ${path('room')} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    await waitFor(() => received.includes('event: full'), 5_000, 'the first event over the raw socket');
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    socket.destroy();
    await waitFor(() => spy.calls.watchesEnded === 1, 5_000, 'the watch to end after the socket closed');
    // The slot is free again.
    const next = await fetch(`${server.url}${path('room')}`, { headers: SSE });
    expect(next.status).toBe(200);
    await readSse(next).cancel();
  });

  test('a reader that does not read holds at most one pending update: the handler pulls from watch only when read', async () => {
    const chord = new Chord();
    await chord.setContext('room', { n: 0 });
    const spy = spyOn(chord);
    const handler = createSyncHandler(spy, { onError: () => {} });
    const abort = new AbortController();
    const response = await handler(new Request('http://local/contexts/room', { headers: SSE, signal: abort.signal }));
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    expect(decoder.decode((await within(reader.read(), 5_000, 'first chunk')).value)).toBe(': connected\n\n');
    expect(decoder.decode((await within(reader.read(), 5_000, 'second chunk')).value)).toContain('event: full');
    const pulls = spy.calls.next;
    for (let n = 1; n <= 20; n++) await chord.setContext('room', { n });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // At most the one update already asked for; the other changes wait in the watch, merged.
    expect(spy.calls.next - pulls).toBeLessThanOrEqual(1);
    const chunk = decoder.decode((await within(reader.read(), 5_000, 'third chunk')).value);
    const data = JSON.parse(chunk.split('data: ')[1]!) as { kind: string; fromVersion: number; version: number };
    expect(data).toMatchObject({ kind: 'delta', fromVersion: 1 });
    // The 20 writes came as few updates, not 20 queued ones.
    const rest: string[] = [];
    while (!chunk.includes('"version":21') && !rest.some((c) => c.includes('"version":21'))) {
      rest.push(decoder.decode((await within(reader.read(), 5_000, 'a later chunk')).value));
    }
    expect(rest.length + 1).toBeLessThan(20);
    abort.abort();
    await reader.cancel();
    await waitFor(() => spy.calls.watchesEnded === 1, 5_000, 'the watch to end');
  });

  test('over node:http, a client that stops reading stops the pulls (socket backpressure)', async () => {
    const chord = new Chord();
    const big = (n: number) => ({ n, blob: String(n % 10).repeat(1 << 20) });
    await chord.setContext('room', big(0));
    const spy = spyOn(chord);
    const server = await serve(spy);
    const socket = connect(server.port, '127.0.0.1');
    let received = 0;
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.write(`GET ${path('room')} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
    await waitFor(() => received > 1 << 20, 10_000, 'the first full context');
    socket.pause();
    const pullsBefore = spy.calls.next;
    // Each write is a 2 MB delta (the new and the old string); unread, the socket fills and the handler stops pulling.
    const writes = 40;
    for (let n = 1; n <= writes; n++) {
      await chord.setContext('room', big(n));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const pulledWhilePaused = spy.calls.next - pullsBefore;
    expect(pulledWhilePaused).toBeLessThan(writes / 2);
    socket.destroy();
    await waitFor(() => spy.calls.watchesEnded === 1, 5_000, 'the watch to end');
  });
});
