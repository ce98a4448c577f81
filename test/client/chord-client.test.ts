import { afterEach, describe, expect, test } from 'vitest';
import { ChordClient, ChordClientError, type ChordClientState } from '../../src/client/index.js';
import { Chord } from '../../src/engine/chord.js';
import { ChordError, ValidationError } from '../../src/errors.js';
import { createSyncHandler, type SyncHandlerOptions } from '../../src/http/index.js';
import { startServer, type TestServer, waitFor } from '../http/support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(chord: Chord, options?: SyncHandlerOptions, port = 0): Promise<TestServer> {
  const server = await startServer(createSyncHandler(chord, { onError: () => {}, ...options }), port);
  cleanups.push(() => server.close());
  return server;
}

/** A fetch that records the headers of every request it makes. */
function recordingFetch(): { fetch: typeof fetch; requests: Headers[] } {
  const requests: Headers[] = [];
  return {
    requests,
    fetch: (input, init) => {
      requests.push(new Headers(init?.headers));
      return fetch(input, init);
    },
  };
}

function client(config: ConstructorParameters<typeof ChordClient>[0]): ChordClient {
  const c = new ChordClient({ initialBackoffMs: 20, maxBackoffMs: 200, ...config });
  cleanups.push(() => c.close());
  return c;
}

/** A fetch answering with the given SSE text for each call in turn (then a stream that stays open). */
function scriptedFetch(bodies: string[]): { fetch: typeof fetch; requests: Headers[] } {
  const requests: Headers[] = [];
  return {
    requests,
    fetch: async (_input, init) => {
      requests.push(new Headers(init?.headers));
      const text = bodies.shift();
      const signal = init?.signal;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          if (text !== undefined) controller.enqueue(new TextEncoder().encode(text));
          signal?.addEventListener('abort', () => controller.error(new Error('aborted')), { once: true });
        },
      });
      return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    },
  };
}

const full = (version: number, context: object, epoch = 'e1'): string =>
  `event: full\nid: ${epoch}:${version}\ndata: ${JSON.stringify({ kind: 'full', context: { contextId: 'room', context, version, insertedAt: 1, epoch } })}\n\n`;

describe('ChordClient over a real server (memory)', () => {
  test('starts with the full context, then applies each delta; every state it holds is the server state at that version', async () => {
    const chord = new Chord();
    const server = await serve(chord);
    const byVersion = new Map<number, unknown>();
    const write = async (context: Record<string, unknown>) => {
      const { context: record } = await chord.setContext('room', context as never);
      byVersion.set(record.version, record.context);
    };
    await write({ title: 'Lobby', members: ['ada'] });
    const c = client({ url: `${server.url}/contexts`, contextId: 'room' });
    const seen: Array<ChordClientState | null> = [];
    c.subscribe((state) => seen.push(state));
    await waitFor(() => c.state?.version === 1, 5_000, 'the full context');
    await write({ title: 'Lobby', members: ['ada', 'grace'] });
    await write({ title: 'Main hall', members: ['ada', 'grace'], topic: 'sync' });
    await waitFor(() => c.state?.version === 3, 5_000, 'version 3');
    expect(c.state).toEqual({ context: byVersion.get(3), version: 3, epoch: (await chord.getContext('room'))!.epoch });
    expect(seen.length).toBeGreaterThan(0);
    for (const state of seen) expect(state!.context).toEqual(byVersion.get(state!.version));
  });

  test('deleted sets the state to null; a re-created context arrives in full with its new epoch', async () => {
    const chord = new Chord();
    const server = await serve(chord);
    const first = await chord.setContext('room', { n: 1 });
    const c = client({ url: `${server.url}/contexts/`, contextId: 'room' });
    await waitFor(() => c.state !== null, 5_000, 'the first state');
    await chord.deleteContext('room');
    await waitFor(() => c.state === null, 5_000, 'the deletion');
    const second = await chord.setContext('room', { n: 2 });
    await waitFor(() => c.state !== null, 5_000, 'the new life');
    expect(c.state).toEqual({ context: { n: 2 }, version: 1, epoch: second.context.epoch });
    expect(second.context.epoch).not.toBe(first.context.epoch);
  });

  test('after the server restarts it reconnects with Last-Event-ID <epoch>:<version> and gets only what it missed', async () => {
    const chord = new Chord();
    const server = await serve(chord);
    const { context } = await chord.setContext('room', { n: 1 });
    const recorder = recordingFetch();
    const errors: unknown[] = [];
    const c = client({ url: `${server.url}/contexts`, contextId: 'room', fetch: recorder.fetch, onError: (e) => errors.push(e) });
    await waitFor(() => c.state?.version === 1, 5_000, 'version 1');
    expect(recorder.requests[0]!.get('last-event-id')).toBeNull();
    expect(recorder.requests[0]!.get('accept')).toBe('text/event-stream');
    await server.close();
    await chord.setContext('room', { n: 2 });
    await chord.setContext('room', { n: 3 });
    const states: Array<ChordClientState | null> = [];
    c.subscribe((s) => states.push(s));
    await serve(chord, undefined, server.port);
    await waitFor(() => c.state?.version === 3, 10_000, 'the client to catch up after the restart');
    const resumed = recorder.requests.at(-1)!;
    expect(resumed.get('last-event-id')).toBe(`${context.epoch}:1`);
    // One update took it from 1 to 3: a delta, not the whole context again.
    expect(states).toEqual([{ context: { n: 3 }, version: 3, epoch: context.epoch }]);
    expect(errors.every((e) => e instanceof ChordClientError)).toBe(true);
  });

  test('a refused stream is reported with its status and code, and retried with backoff until closed', async () => {
    const chord = new Chord();
    await chord.setContext('room', { n: 1 });
    let allow = false;
    const server = await serve(chord, { authorize: () => allow });
    const errors: ChordClientError[] = [];
    const c = client({ url: `${server.url}/contexts`, contextId: 'room', onError: (e) => errors.push(e as ChordClientError) });
    await waitFor(() => errors.length >= 2, 5_000, 'two refusals');
    expect(errors[0]).toBeInstanceOf(ChordError);
    expect(errors[0]).toMatchObject({ status: 403, serverCode: 'forbidden' });
    allow = true;
    await waitFor(() => c.state?.version === 1, 5_000, 'the state once allowed');
  });

  test('close() ends the stream on the server and no listener is called after it', async () => {
    const chord = new Chord();
    await chord.setContext('room', { n: 1 });
    const server = await serve(chord, { maxStreams: 1 });
    const c = client({ url: `${server.url}/contexts`, contextId: 'room' });
    let calls = 0;
    c.subscribe(() => calls++);
    await waitFor(() => c.state !== null, 5_000, 'the first state');
    c.close();
    const before = calls;
    await chord.setContext('room', { n: 2 });
    // The only stream slot comes free once the server saw the close (bounded: 50 tries, 50 ms apart).
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const r = await fetch(`${server.url}/contexts/room`, { headers: { accept: 'text/event-stream' } });
      status = r.status;
      await r.body?.cancel();
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
    expect(calls).toBe(before);
    expect(c.state?.version).toBe(1);
  });
});

describe('ChordClient never keeps a wrong state', () => {
  test('a delta that does not start at the version held drops the state and reconnects without a version', async () => {
    const gap = `event: delta\nid: e1:6\ndata: ${JSON.stringify({ kind: 'delta', delta: {}, fromVersion: 5, version: 6, epoch: 'e1' })}\n\n`;
    const script = scriptedFetch([full(1, { n: 1 }) + gap, full(6, { n: 6 })]);
    const errors: unknown[] = [];
    const c = client({ url: 'http://fake/contexts', contextId: 'room', fetch: script.fetch, onError: (e) => errors.push(e) });
    const states: Array<ChordClientState | null> = [];
    c.subscribe((s) => states.push(s));
    await waitFor(() => c.state?.version === 6, 5_000, 'the full context after the reconnect');
    expect(states.map((s) => s?.version ?? null)).toEqual([1, null, 6]);
    expect(script.requests).toHaveLength(2);
    expect(script.requests[1]!.get('last-event-id')).toBeNull();
    expect(String(errors[0])).toContain('does not continue');
  });

  test('a delta of another epoch drops the state too', async () => {
    const other = `event: delta\nid: e2:2\ndata: ${JSON.stringify({ kind: 'delta', delta: {}, fromVersion: 1, version: 2, epoch: 'e2' })}\n\n`;
    const script = scriptedFetch([full(1, { n: 1 }) + other, full(2, { n: 2 }, 'e2')]);
    const c = client({ url: 'http://fake/contexts', contextId: 'room', fetch: script.fetch });
    const states: Array<number | null> = [];
    c.subscribe((s) => states.push(s?.version ?? null));
    await waitFor(() => c.state?.epoch === 'e2', 5_000, 'the new epoch in full');
    expect(states).toEqual([1, null, 2]);
  });

  test('an unreadable update drops the state; a full of another context id is refused', async () => {
    const script = scriptedFetch([full(1, { n: 1 }) + 'event: delta\ndata: {not json\n\n', full(2, { n: 2 }).replace('"contextId":"room"', '"contextId":"other"')]);
    const c = client({ url: 'http://fake/contexts', contextId: 'room', fetch: script.fetch });
    const states: Array<number | null> = [];
    c.subscribe((s) => states.push(s?.version ?? null));
    await waitFor(() => script.requests.length >= 3, 5_000, 'a third connection');
    expect(states).toEqual([1, null]);
    expect(c.state).toBeNull();
  });

  test('a stream silent past idleTimeoutMs is reopened from the state held', async () => {
    const script = scriptedFetch([full(4, { n: 4 })]);
    const c = client({ url: 'http://fake/contexts', contextId: 'room', fetch: script.fetch, idleTimeoutMs: 100 });
    await waitFor(() => script.requests.length >= 2, 5_000, 'a reconnect after silence');
    expect(c.state?.version).toBe(4);
    expect(script.requests[1]!.get('last-event-id')).toBe('e1:4');
  });

  test('bad configuration is a ValidationError naming the option', () => {
    expect(() => new ChordClient({ url: '', contextId: 'x' })).toThrow(ValidationError);
    expect(() => new ChordClient({ url: 'http://h', contextId: '' })).toThrow(/config\.contextId/);
    expect(() => new ChordClient({ url: 'http://h', contextId: 'x', maxBackoffMs: -1 })).toThrow(/config\.maxBackoffMs/);
    expect(() => new ChordClient({ url: 'http://h', contextId: 'x', retries: 3 } as never)).toThrow(/config\.retries/);
  });
});
