// The write half of the sync route (POST {basePath}/{id}): refusals that write nothing, the
// exact write authorizeWrite sees, unset over the wire, conflicts, and write ids applied once.
import { afterEach, describe, expect, test } from 'vitest';
import { Chord, MemoryBackend, unset } from '../../src/index.js';
import type { ContextChanges } from '../../src/index.js';
import type { ChordBackend } from '../../src/backend.js';
import { type ClientWrite, createSyncHandler, type SyncHandlerOptions } from '../../src/http/index.js';
import { encodeChanges, type WriteAnswer } from '../../src/wire/writes.js';
import { readSse, startServer, type TestServer } from './support.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(options: SyncHandlerOptions, backend: ChordBackend = new MemoryBackend()): Promise<{ chord: Chord; url: string }> {
  const chord = new Chord({ backend });
  server = await startServer(createSyncHandler(chord, options));
  return { chord, url: `${server.url}/contexts` };
}

function post(url: string, id: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/${encodeURIComponent(id)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function errorOf(response: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return { status: response.status, ...body.error };
}

const allowAll = { authorizeWrite: () => true };

describe('POST on the sync route', () => {
  test('without authorizeWrite: 405 with Allow: GET, and nothing written', async () => {
    const { chord, url } = await serve({});
    const response = await post(url, 'doc', { kind: 'set', context: { a: 1 }, clientId: 'c', writeId: 1 });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
    expect((await errorOf(response)).code).toBe('method_not_allowed');
    expect(await chord.getContext('doc')).toBeNull();
  });

  test('authorizeWrite sees the exact write (unset as the sentinel) before anything is stored; false → 403, nothing written', async () => {
    const seen: { contextId: string; write: ClientWrite; stored: unknown }[] = [];
    let chordRef: Chord | undefined;
    const { chord, url } = await serve({
      authorizeWrite: async (_request, contextId, write) => {
        seen.push({ contextId, write, stored: (await chordRef!.getContext(contextId))?.context });
        return false;
      },
    });
    chordRef = chord;
    await chord.setContext('doc', { a: 1, b: { c: 2 } });
    const changes: ContextChanges = { a: 2, b: { c: unset }, unset: { $unset: 1 } };
    const response = await post(url, 'doc', { kind: 'update', ...encodeChanges(changes), expectedVersion: 1, epoch: (await chord.getContext('doc'))!.epoch, clientId: 'c', writeId: 1 });
    expect(await errorOf(response)).toMatchObject({ status: 403, code: 'forbidden' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.contextId).toBe('doc');
    expect(seen[0]!.write).toStrictEqual({ kind: 'update', changes, expectedVersion: 1, epoch: (await chord.getContext('doc'))!.epoch });
    expect(seen[0]!.stored).toStrictEqual({ a: 1, b: { c: 2 } });
    expect((await chord.getContext('doc'))!.version).toBe(1);

    const set = await post(url, 'doc', { kind: 'set', context: { z: null }, clientId: 'c', writeId: 2 });
    expect(set.status).toBe(403);
    expect(seen[1]!.write).toStrictEqual({ kind: 'set', context: { z: null } });
    expect((await chord.getContext('doc'))!.context).toStrictEqual({ a: 1, b: { c: 2 } });
  });

  test('an update with unset survives the wire: the key is deleted, null is stored, and a watcher gets it live', async () => {
    const { chord, url } = await serve(allowAll);
    await chord.setContext('doc', { a: 1, b: { c: 2, d: 3 }, unset: 'kept?' });
    const stream = await fetch(`${server!.url}/contexts/doc?version=1&epoch=${(await chord.getContext('doc'))!.epoch}`, { headers: { accept: 'text/event-stream' } });
    const events = readSse(stream);
    const response = await post(url, 'doc', { kind: 'update', ...encodeChanges({ b: { c: unset }, unset: unset, n: null }), clientId: 'c', writeId: 1 });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as WriteAnswer;
    const stored = (await chord.getContext('doc'))!;
    expect(answer).toStrictEqual({ version: 2, epoch: stored.epoch, duplicate: false });
    expect(stored.context).toStrictEqual({ a: 1, b: { d: 3 }, n: null });
    const [update] = await events.waitForEvents(1, 10_000);
    expect(JSON.parse(update!.data)).toMatchObject({ kind: 'delta', version: 2 });
    await events.cancel();
  });

  test.each([
    ['a body that is not JSON', '{"kind":', undefined, 'body'],
    ['a content type that is not JSON', JSON.stringify({ kind: 'set', context: {}, clientId: 'c', writeId: 1 }), 'text/plain', 'content-type'],
    ['an unknown kind', { kind: 'patch', clientId: 'c', writeId: 1 }, undefined, 'body.kind'],
    ['no clientId', { kind: 'set', context: { x: 1 }, writeId: 1 }, undefined, 'body.clientId'],
    ['writeId 0', { kind: 'set', context: { x: 1 }, clientId: 'c', writeId: 0 }, undefined, 'body.writeId'],
    ['an unset path inside a value of merge', { kind: 'update', merge: { a: 5 }, unset: [['a', 'b']], clientId: 'c', writeId: 1 }, undefined, 'body.unset[0]'],
    ['an unknown field', { kind: 'set', context: { x: 1 }, clientId: 'c', writeId: 1, force: true }, undefined, 'body.force'],
    ['a context that is not JSON the engine stores (a lone surrogate key)', { kind: 'set', context: { '\ud800': 1 }, clientId: 'c', writeId: 1 }, undefined, 'context'],
  ])('400 invalid_argument for %s, naming it, and nothing written', async (_name, body, type, argument) => {
    let asked = 0;
    const { chord, url } = await serve({ authorizeWrite: () => (asked++, true) });
    await chord.setContext('doc', { a: 1 });
    const response = await post(url, 'doc', body, type === undefined ? {} : { 'content-type': type });
    const error = await errorOf(response);
    expect(error).toMatchObject({ status: 400, code: 'invalid_argument' });
    expect(error.message).toContain(argument);
    expect(await chord.getContext('doc')).toMatchObject({ version: 1, context: { a: 1 } });
  });

  test('413 for a body over maxWriteBytes, whether its length is declared or not, and nothing written', async () => {
    const { chord, url } = await serve({ ...allowAll, maxWriteBytes: 1000 });
    const big = { kind: 'set', context: { text: 'x'.repeat(2000) }, clientId: 'c', writeId: 1 };
    const declared = await post(url, 'doc', big);
    expect(await errorOf(declared)).toMatchObject({ status: 413, code: 'payload_too_large' });
    // Streamed without Content-Length: refused once more than 1000 bytes arrived.
    const text = new TextEncoder().encode(JSON.stringify(big));
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < text.length; at += 100) controller.enqueue(text.slice(at, at + 100));
        controller.close();
      },
    });
    const streamed = await fetch(`${url}/doc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
    expect(await errorOf(streamed)).toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(await chord.getContext('doc')).toBeNull();
    const small = await post(url, 'doc', { kind: 'set', context: { text: 'x' }, clientId: 'c', writeId: 1 });
    expect(small.status).toBe(200);
  });

  test('409 conflict for a stale expectedVersion or an epoch that is not current; 404 for an update of a missing context', async () => {
    const { chord, url } = await serve(allowAll);
    await chord.setContext('doc', { a: 1 });
    await chord.setContext('doc', { a: 2 });
    const stale = await post(url, 'doc', { kind: 'update', merge: { a: 3 }, unset: [], expectedVersion: 1, clientId: 'c', writeId: 1 });
    expect(await errorOf(stale)).toMatchObject({ status: 409, code: 'conflict' });
    const otherEpoch = await post(url, 'doc', { kind: 'set', context: { a: 3 }, epoch: 'not-the-epoch', clientId: 'c', writeId: 2 });
    const epochError = await errorOf(otherEpoch);
    expect(epochError).toMatchObject({ status: 409, code: 'conflict' });
    expect(epochError.message).toContain('epoch');
    expect(await chord.getContext('doc')).toMatchObject({ version: 2, context: { a: 2 } });
    const missing = await post(url, 'nope', { kind: 'update', merge: { a: 1 }, unset: [], clientId: 'c', writeId: 1 });
    expect(await errorOf(missing)).toMatchObject({ status: 404, code: 'not_found' });
    // A refused write id is not used up: the client's next write (any higher id) applies.
    const next = await post(url, 'doc', { kind: 'update', merge: { a: 3 }, unset: [], expectedVersion: 2, clientId: 'c', writeId: 3 });
    expect(await next.json()).toMatchObject({ version: 3, duplicate: false });
  });

  test('a write id applied once: the same (clientId, writeId) again is answered from the receipt and not applied', async () => {
    const { chord, url } = await serve(allowAll);
    await chord.setContext('doc', { n: 0 });
    const write = { kind: 'update', merge: { n: 1 }, unset: [], expectedVersion: 1, clientId: 'c', writeId: 1 };
    const first = (await (await post(url, 'doc', write)).json()) as WriteAnswer;
    await chord.setContext('doc', { n: 5 }); // another writer on the same key
    const again = (await (await post(url, 'doc', write)).json()) as WriteAnswer;
    expect(first).toMatchObject({ version: 2, duplicate: false });
    expect(again).toStrictEqual({ version: 2, epoch: first.epoch, duplicate: true });
    expect(await chord.getContext('doc')).toMatchObject({ version: 3, context: { n: 5 } });
    // Another client's writeId 1 is its own.
    const other = (await (await post(url, 'doc', { ...write, expectedVersion: undefined, clientId: 'd' })).json()) as WriteAnswer;
    expect(other).toMatchObject({ version: 4, duplicate: false });
  });

  test('a write that changes nothing records its write id: its retry after another write is not applied', async () => {
    const { chord, url } = await serve(allowAll);
    await chord.setContext('doc', { n: 1 });
    const write = { kind: 'set', context: { n: 1 }, clientId: 'c', writeId: 1 };
    expect(await (await post(url, 'doc', write)).json()).toMatchObject({ version: 1, duplicate: false });
    await chord.setContext('doc', { n: 2 });
    expect(await (await post(url, 'doc', write)).json()).toMatchObject({ version: 1, duplicate: true });
    expect(await chord.getContext('doc')).toMatchObject({ version: 2, context: { n: 2 } });
  });

  test('authorizeWrite on a backend that cannot record write ids is refused at creation', () => {
    const memory = new MemoryBackend();
    const plain = Object.fromEntries(
      ['setContext', 'getContext', 'deleteContext', 'setDelta', 'getDeltas', 'deleteDeltasForContext', 'deleteDeltasByTime', 'deleteDeltasExceedingThreshold', 'listContexts', 'listContextsWithDeltaCounts', 'listDeltas'].map((m) => [
        m,
        (...args: unknown[]) => (memory as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!(...args),
      ]),
    ) as unknown as ChordBackend;
    const chord = new Chord({ backend: plain });
    expect(() => createSyncHandler(chord, allowAll)).toThrow(/options\.authorizeWrite.*write ids/);
    expect(() => createSyncHandler(chord, {})).not.toThrow();
  });
});
