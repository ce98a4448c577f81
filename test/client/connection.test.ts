/**
 * ChordConnection over real HTTP (node:http on 127.0.0.1): many contexts on one multiplexed SSE
 * stream. The server counts the SSE streams open at once; every state a context holds is checked
 * against the server's state at that (epoch, version), and the versions each context applied must
 * rise strictly (none applied twice, none out of order).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { ChordClient, type ChordClientError, ChordConnection, type ConnectionContext } from '../../src/client/index.js';
import { Chord } from '../../src/engine/chord.js';
import { ValidationError } from '../../src/errors.js';
import { createSyncHandler, type SyncHandlerOptions } from '../../src/http/index.js';
import type { JsonObject } from '../../src/types.js';
import { decodeFollowList } from '../../src/wire/multiplex.js';
import { startServer, type TestServer, waitFor } from '../http/support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server whose SSE requests are counted while open (from the request until its response closes). */
async function countedServer(chord: Chord, options: SyncHandlerOptions = {}): Promise<TestServer & { streams: { open: number; most: number; total: number } }> {
  const server = await startServer(createSyncHandler(chord, { onError: () => {}, ...options }));
  cleanups.push(() => server.close());
  const streams = { open: 0, most: 0, total: 0 };
  server.server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
    if (!String(request.headers.accept).includes('text/event-stream')) return;
    streams.open++;
    streams.total++;
    streams.most = Math.max(streams.most, streams.open);
    response.once('close', () => streams.open--);
  });
  return { ...server, streams };
}

/**
 * A fetch that keeps every URL it was asked for, and counts the SSE streams it holds open: from the
 * request until the connection aborts it (it aborts every stream it ends). Counted here rather than
 * at the server, which may see a reopened stream's request before the close of the one it replaces.
 */
function recordingFetch(): { urls: URL[]; streams: { open: number; most: number }; fetch: typeof fetch } {
  const urls: URL[] = [];
  const streams = { open: 0, most: 0 };
  return {
    urls,
    streams,
    fetch: (input, init) => {
      urls.push(new URL(String(input)));
      const signal = init?.signal;
      if (new Headers(init?.headers).get('accept')?.includes('text/event-stream') && signal && !signal.aborted) {
        streams.open++;
        streams.most = Math.max(streams.most, streams.open);
        signal.addEventListener('abort', () => streams.open--, { once: true });
      }
      return fetch(input, init);
    },
  };
}

/** What the request at `url` asked for: id → version held (null: nothing). */
function followed(url: URL): Map<string, unknown> {
  return new Map(decodeFollowList(url.searchParams.get('contexts')!).map((entry) => [entry.contextId, entry.version]));
}

const key = (epoch: string | undefined, version: number): string => `${epoch ?? ''}:${version}`;

/** Every state the server had, by context and (epoch, version), filled as the writer writes. */
class History {
  readonly states = new Map<string, Map<string, JsonObject>>();
  record(contextId: string, record: { epoch?: string; version: number; context: JsonObject }): void {
    let states = this.states.get(contextId);
    if (states === undefined) this.states.set(contextId, (states = new Map()));
    states.set(key(record.epoch, record.version), record.context);
  }
}

/** Records every state a handle applied, and checks each against the server's history. */
function observe(handle: ConnectionContext): Array<{ epoch: string | undefined; version: number; context: JsonObject }> {
  const applied: Array<{ epoch: string | undefined; version: number; context: JsonObject }> = [];
  handle.subscribe((state) => {
    if (state !== null) applied.push({ epoch: state.epoch, version: state.version, context: state.context });
  });
  return applied;
}

function expectAppliedInOrder(contextId: string, applied: ReadonlyArray<{ epoch: string | undefined; version: number; context: JsonObject }>, history: History): void {
  const versions = applied.map((a) => a.version);
  for (let i = 1; i < versions.length; i++) {
    expect(versions[i], `${contextId}: versions applied ${versions.join(',')} rise strictly (none twice, none out of order)`).toBeGreaterThan(versions[i - 1]!);
  }
  for (const a of applied) {
    expect(history.states.get(contextId)?.get(key(a.epoch, a.version)), `${contextId}: the state held at ${a.version} is the server's`).toEqual(a.context);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ChordConnection over a real server (memory)', () => {
  test('12 contexts on one stream; a 13th followed and the 3rd dropped while writes go on: one stream at a time, each context in order, all end equal', async () => {
    const chord = new Chord({ watchPollMs: 50 });
    const history = new History();
    const ids = Array.from({ length: 13 }, (_, i) => `room:${i + 1}`);
    for (const id of ids) history.record(id, (await chord.setContext(id, { n: 0, name: id })).context);
    const server = await countedServer(chord);
    const recorder = recordingFetch();
    const errors: unknown[] = [];
    const connection = new ChordConnection({ url: `${server.url}/contexts`, fetch: recorder.fetch, onError: (e) => errors.push(e) });
    cleanups.push(() => connection.close());

    const handles = new Map<string, ConnectionContext>();
    const applied = new Map<string, ReturnType<typeof observe>>();
    for (const id of ids.slice(0, 12)) {
      const handle = connection.context(id);
      handles.set(id, handle);
      applied.set(id, observe(handle));
    }
    await waitFor(() => ids.slice(0, 12).every((id) => handles.get(id)!.state !== null), 10_000, 'every context to arrive');
    // Twelve follows made together cost one request.
    expect(recorder.urls).toHaveLength(1);
    expect([...followed(recorder.urls[0]!).keys()]).toEqual(ids.slice(0, 12));

    let writing = true;
    let round = 0;
    const writer = (async () => {
      while (writing) {
        round++;
        for (const id of ids) {
          const write = round % 3 === 0 ? chord.setContext(id, { n: round, name: id, [`k${round % 5}`]: round }) : chord.updateContext(id, { n: round });
          history.record(id, (await write).context);
        }
        await sleep(5);
      }
    })();

    await sleep(150);
    const thirteenth = connection.context(ids[12]!);
    handles.set(ids[12]!, thirteenth);
    applied.set(ids[12]!, observe(thirteenth));
    await sleep(100);
    handles.get(ids[2]!)!.close();
    const third = handles.get(ids[2]!)!;
    const thirdVersion = third.state?.version;
    await sleep(300);
    writing = false;
    await writer;

    const following = ids.filter((id) => id !== ids[2]);
    await waitFor(
      () => following.every((id) => handles.get(id)!.state?.version === history.states.get(id)!.size),
      15_000,
      'every followed context to end equal to the server',
    );
    for (const id of following) {
      const server = (await chord.getContext(id))!;
      expect(handles.get(id)!.state).toEqual({ context: server.context, version: server.version, epoch: server.epoch });
      expectAppliedInOrder(id, applied.get(id)!, history);
    }
    expect(recorder.streams.most, 'never more than one SSE stream open at once').toBe(1);
    await waitFor(() => server.streams.open === 1, 10_000, 'the server to hold just the one stream');
    expect(connection.contextIds).toEqual(following);
    // The reopened streams named each context with the version it held: nothing was asked again from nothing.
    for (const url of recorder.urls.slice(1)) {
      for (const [id, version] of followed(url)) if (id !== ids[12]) expect(version, `${id} resumed from its version`).not.toBeNull();
    }
    expect([...followed(recorder.urls.at(-1)!).keys()]).toEqual(following);
    // The dropped context is no longer read: its handle keeps the state it had when closed.
    expect(third.state?.version).toBe(thirdVersion);
    expect(third.closed).toBe(true);
    expect(errors).toEqual([]);
  });

  test('a context refused by authorize reports its error while the others keep updating', async () => {
    const chord = new Chord({ watchPollMs: 50 });
    for (const id of ['a', 'secret', 'b']) await chord.setContext(id, { n: 0 });
    const server = await countedServer(chord, { authorize: (_request, contextId) => contextId !== 'secret' });
    const errors: unknown[] = [];
    const connection = new ChordConnection({ url: `${server.url}/contexts`, onError: (e) => errors.push(e) });
    cleanups.push(() => connection.close());
    const a = connection.context('a');
    const secret = connection.context('secret');
    const b = connection.context('b');
    const told: Array<ChordClientError | undefined> = [];
    secret.subscribe(() => told.push(secret.error));
    await waitFor(() => secret.error !== undefined && a.state !== null && b.state !== null, 10_000, 'the refusal and the others');
    expect(secret.error).toMatchObject({ serverCode: 'forbidden' });
    expect(told.at(-1)?.serverCode, 'listeners are told of the error').toBe('forbidden');
    expect(secret.state).toBeNull();
    expect(errors).toContain(secret.error);
    for (let n = 1; n <= 5; n++) {
      await chord.updateContext('a', { n });
      await chord.updateContext('b', { n });
      await chord.updateContext('secret', { n });
    }
    await waitFor(() => a.state?.version === 6 && b.state?.version === 6, 10_000, 'the others to go on updating');
    expect(a.state?.context).toEqual({ n: 5 });
    expect(secret.state).toBeNull();
    // A refusal does not make the connection reconnect: one stream served all of it.
    expect(server.streams.total).toBe(1);
  });

  test('a context followed twice is read once; closing one handle keeps it for the other', async () => {
    const chord = new Chord({ watchPollMs: 50 });
    await chord.setContext('room', { n: 1 });
    const server = await countedServer(chord);
    const recorder = recordingFetch();
    const connection = new ChordConnection({ url: `${server.url}/contexts`, fetch: recorder.fetch });
    cleanups.push(() => connection.close());
    const first = connection.context('room');
    const second = connection.context('room');
    await waitFor(() => first.state !== null, 10_000, 'the state');
    expect(second.state).toBe(first.state);
    expect([...followed(recorder.urls[0]!).keys()]).toEqual(['room']);
    const calls: number[] = [];
    second.subscribe((state) => calls.push(state!.version));
    first.close();
    await chord.updateContext('room', { n: 2 });
    await waitFor(() => second.state?.version === 2, 10_000, 'the update through the remaining handle');
    expect(calls).toEqual([2]);
    expect(recorder.urls).toHaveLength(1);
    second.close();
    await waitFor(() => server.streams.open === 0, 10_000, 'the stream to close with no context left');
    expect(connection.contextIds).toEqual([]);
  });

  test('one read per change however many streams follow the context: multiplexed and single streams share the hub', async () => {
    // Every backend read, counted (own properties over the methods, so #private state still works).
    const backend = new MemoryBackend();
    let reads = 0;
    const methods = backend as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ['getContext', 'getDeltas', 'readForSync', 'readForSyncNow', 'listContexts', 'listDeltas']) {
      const original = methods[name];
      if (typeof original !== 'function') continue;
      methods[name] = (...args: unknown[]) => {
        reads++;
        return original.apply(backend, args);
      };
    }
    const chord = new Chord({ backend });
    await chord.setContext('shared', { n: 0 });
    const server = await countedServer(chord);
    const readsPerWrite = async (followers: Array<{ state: { version: number } | null }>, n: number): Promise<number> => {
      await waitFor(() => followers.every((f) => f.state?.version === n), 10_000, `every follower at version ${n}`);
      await sleep(50);
      const before = reads;
      await chord.updateContext('shared', { n });
      await waitFor(() => followers.every((f) => f.state?.version === n + 1), 10_000, `every follower at version ${n + 1}`);
      await sleep(50);
      return reads - before;
    };
    const one = new ChordConnection({ url: `${server.url}/contexts` });
    cleanups.push(() => one.close());
    const alone = await readsPerWrite([one.context('shared')], 1);
    const many: Array<{ state: { version: number } | null }> = [];
    for (let i = 0; i < 4; i++) {
      const connection = new ChordConnection({ url: `${server.url}/contexts` });
      cleanups.push(() => connection.close());
      many.push(connection.context('shared'));
      const client = new ChordClient({ url: `${server.url}/contexts`, contextId: 'shared' });
      cleanups.push(() => client.close());
      many.push(client);
    }
    const shared = await readsPerWrite(many, 2);
    expect(server.streams.open).toBe(9);
    expect(alone).toBeGreaterThan(0);
    expect(shared, `reads per change: ${alone} for one stream, ${shared} for nine`).toBe(alone);
  });

  test('past maxContextsPerStream the contexts beyond it get an error each; the rest are served', async () => {
    const chord = new Chord({ watchPollMs: 50 });
    for (const id of ['a', 'b', 'c']) await chord.setContext(id, { id });
    const server = await countedServer(chord, { maxContextsPerStream: 2 });
    const connection = new ChordConnection({ url: `${server.url}/contexts` });
    cleanups.push(() => connection.close());
    const [a, b, c] = ['a', 'b', 'c'].map((id) => connection.context(id));
    await waitFor(() => a!.state !== null && b!.state !== null && c!.error !== undefined, 10_000, 'two served, one refused');
    expect(c!.error).toMatchObject({ serverCode: 'invalid_argument' });
    expect(c!.error!.message).toContain('maxContextsPerStream');
  });

  test('bad input: a ValidationError naming it', () => {
    expect(() => new ChordConnection({ url: '' })).toThrow(ValidationError);
    expect(() => new ChordConnection({ url: 'http://h', contextId: 'x' } as never)).toThrow(/config\.contextId/);
    expect(() => new ChordConnection({ url: 'http://h', followDebounceMs: -1 })).toThrow(/config\.followDebounceMs/);
    const connection = new ChordConnection({ url: 'http://127.0.0.1:9' });
    expect(() => connection.context('')).toThrow(/contextId/);
    connection.close();
    expect(() => connection.context('x')).toThrow(/closed/);
  });
});
