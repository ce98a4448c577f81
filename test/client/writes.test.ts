import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { type ChordBackend, hasWriteIdRecorder } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { ChordClient, ChordClientError, type ChordClientState, unset } from '../../src/client/index.js';
import { Chord } from '../../src/engine/chord.js';
import type { ContextChanges } from '../../src/engine/index.js';
import { ValidationError } from '../../src/errors.js';
import { createSyncHandler } from '../../src/http/index.js';
import type { JsonObject } from '../../src/types.js';
import { seededRandom as random } from '../support/random.js';
import { type BackendTarget, skipNote } from '../support/targets.js';
import { DATABASE_TEST_TIMEOUT_MS, liveTargets, startServer, type TestServer, waitFor, within } from '../http/support.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type WriteAuthorizer = (request: Request, contextId: string, write: unknown) => boolean | Promise<boolean>;

/** A server on `chord` whose writes `authorizeWrite` decides (null: writes off). */
async function serve(chord: Chord, authorizeWrite: WriteAuthorizer | null = () => true): Promise<TestServer> {
  const server = await startServer(createSyncHandler(chord, { onError: () => {}, ...(authorizeWrite === null ? {} : { authorizeWrite }) }));
  cleanups.push(() => server.close());
  return server;
}

function client(server: TestServer, contextId: string, config: Partial<ConstructorParameters<typeof ChordClient>[0]> = {}): ChordClient {
  const c = new ChordClient({ url: `${server.url}/contexts`, contextId, initialBackoffMs: 20, maxBackoffMs: 200, ...config });
  cleanups.push(() => c.close());
  return c;
}

/** An authorizeWrite that holds every write until `release()` (and records what it saw). */
function gate(): { authorizeWrite: WriteAuthorizer; release(): void; seen: unknown[]; waiting(): number } {
  let open = false;
  const waiters: Array<() => void> = [];
  const seen: unknown[] = [];
  return {
    seen,
    waiting: () => waiters.length,
    authorizeWrite: async (_request, _id, write) => {
      seen.push(write);
      if (!open) await new Promise<void>((resolve) => waiters.push(resolve));
      return true;
    },
    release() {
      open = true;
      for (const resolve of waiters.splice(0)) resolve();
    },
  };
}

/** Why client writes cannot run on `target` (the route needs a backend that records write ids), or undefined. */
function noWriteIds(target: BackendTarget): string | undefined {
  const prototype = (target.name === 'memory' ? MemoryBackend.prototype : PrismaBackend.prototype) as unknown as ChordBackend;
  if (hasWriteIdRecorder(prototype)) return undefined;
  return `${target.name}: the backend records no write ids yet (WriteIdRecorder), so the route refuses client writes on it`;
}

const ready = (c: ChordClient): Promise<void> => waitFor(() => c.confirmed !== null, 10_000, 'the first state');

for (const target of liveTargets()) describe.skipIf(noWriteIds(target) !== undefined)(`ChordClient writes on ${target.name}${skipNote(noWriteIds(target))}`, () => {
  // One backend for the describe (a database one is slow to make); each test its own context id.
  let backend: ChordBackend;
  let room: string;
  const newChord = (): Chord => new Chord({ backend, watchPollMs: 50 });
  beforeAll(async () => {
    backend = await target.harness.makeBackend({ clock: Date.now });
  }, DATABASE_TEST_TIMEOUT_MS);
  afterAll(async () => {
    await (target.harness.dispose ?? ((b: ChordBackend) => (b as { close?: () => Promise<void> }).close?.()))(backend);
  });
  beforeEach(() => {
    room = `room:${Math.random().toString(36).slice(2)}`;
  });

  test('optimistic: state has the change synchronously after update(); confirmed does not until the answer and the stream bring it', async () => {
    const chord = newChord();
    await chord.setContext(room, { title: 'Lobby', token: 'x' });
    const held = gate();
    const server = await serve(chord, held.authorizeWrite);
    const c = client(server, room);
    await ready(c);
    const seen: Array<ChordClientState | null> = [];
    c.subscribe((state) => seen.push(state));

    const done = c.update({ title: 'Main hall', token: unset });
    expect(c.state!.context).toEqual({ title: 'Main hall' });
    expect(c.confirmed!.context).toEqual({ title: 'Lobby', token: 'x' });
    expect(c.pending).toBe(1);
    expect(seen.at(-1)!.context).toEqual({ title: 'Main hall' }); // listeners saw it at once too

    await waitFor(() => held.waiting() === 1, 10_000, 'the write at the server');
    expect(c.confirmed!.version).toBe(1); // the server holds the answer: nothing confirmed yet
    held.release();
    const confirmed = await within(done, 10_000, 'the write confirmed');
    expect(confirmed).toEqual(c.confirmed);
    expect(confirmed.version).toBe(2);
    expect(c.confirmed!.context).toEqual({ title: 'Main hall' });
    expect(c.state).toEqual(c.confirmed);
    expect(c.pending).toBe(0);
    expect((await chord.getContext(room))!.context).toEqual({ title: 'Main hall' });
  });

  test('set replaces the whole context, shown at once and confirmed', async () => {
    const chord = newChord();
    await chord.setContext(room, { a: 1, b: 2 });
    const c = client(await serve(chord), room);
    await ready(c);
    const done = c.set({ c: 3 });
    expect(c.state!.context).toEqual({ c: 3 });
    const confirmed = await within(done, 10_000, 'the set confirmed');
    expect(confirmed.context).toEqual({ c: 3 });
    expect((await chord.getContext(room))!.context).toEqual({ c: 3 });
  });

  test('rebase: a server write lands while a client write is pending; both show and the client ends equal to the server', async () => {
    const chord = newChord();
    await chord.setContext(room, { notes: {} });
    const held = gate();
    const server = await serve(chord, held.authorizeWrite);
    const c = client(server, room);
    await ready(c);
    const done = c.update({ notes: { mine: 'client' } });
    await waitFor(() => held.waiting() === 1, 10_000, 'the write at the server');
    await chord.updateContext(room, { notes: { theirs: 'server' } });
    await waitFor(() => c.confirmed!.version === 2, 10_000, 'the server write on the stream');
    expect(c.confirmed!.context).toEqual({ notes: { theirs: 'server' } });
    expect(c.state!.context).toEqual({ notes: { theirs: 'server', mine: 'client' } }); // rebased
    held.release();
    await within(done, 10_000, 'the write confirmed');
    const stored = (await chord.getContext(room))!;
    expect(c.confirmed).toEqual({ context: stored.context, version: stored.version, epoch: stored.epoch });
    expect(c.state).toEqual(c.confirmed);
    expect(stored.context).toEqual({ notes: { theirs: 'server', mine: 'client' } });
  });

  test('refused by authorizeWrite: rejects with 403 forbidden, and state equals confirmed again; the next write still goes through', async () => {
    const chord = newChord();
    await chord.setContext(room, { n: 0 });
    let allow = false;
    const c = client(await serve(chord, () => allow), room);
    await ready(c);
    const refused = c.update({ n: 1, secret: true });
    expect(c.state!.context).toEqual({ n: 1, secret: true });
    const error = await within(refused.then(() => undefined, (e: unknown) => e), 10_000, 'the refusal');
    expect(error).toBeInstanceOf(ChordClientError);
    expect(error).toMatchObject({ status: 403, serverCode: 'forbidden' });
    expect(c.state).toEqual(c.confirmed);
    expect(c.state!.context).toEqual({ n: 0 });
    expect(c.pending).toBe(0);
    expect((await chord.getContext(room))!.version).toBe(1);
    allow = true;
    expect((await within(c.update({ n: 2 }), 10_000, 'the next write')).context).toEqual({ n: 2 });
  });

  test('stale expectedVersion: rejects with 409 conflict, state equals confirmed; a later write made meanwhile stays and lands', async () => {
    const chord = newChord();
    await chord.setContext(room, { n: 0 });
    const c = client(await serve(chord), room);
    await ready(c);
    await chord.updateContext(room, { n: 1 }); // the server moves on to version 2
    const stale = c.update({ n: 99 }, { expectedVersion: 1 });
    const after = c.update({ m: 1 });
    const error = await within(stale.then(() => undefined, (e: unknown) => e), 10_000, 'the conflict');
    expect(error).toBeInstanceOf(ChordClientError);
    expect(error).toMatchObject({ status: 409, serverCode: 'conflict' });
    const confirmed = await within(after, 10_000, 'the later write');
    expect(confirmed.context).toEqual({ n: 1, m: 1 });
    expect(c.state).toEqual(c.confirmed);
    expect((await chord.getContext(room))!.context).toEqual({ n: 1, m: 1 });
  });

  test('without authorizeWrite the server answers 405: the write is refused and nothing is written', async () => {
    const chord = newChord();
    await chord.setContext(room, { n: 0 });
    const c = client(await serve(chord, null), room);
    await ready(c);
    await expect(within(c.update({ n: 1 }), 10_000, 'the refusal')).rejects.toMatchObject({ status: 405 });
    expect(c.state!.context).toEqual({ n: 0 });
    expect((await chord.getContext(room))!.version).toBe(1);
  });

  test('a lost answer (503, then a reset connection) is asked for again with the same write id; the write lands once', async () => {
    const chord = newChord();
    await chord.setContext(room, { n: 0 });
    const server = await serve(chord);
    const bodies: Array<{ clientId: string; writeId: number }> = [];
    let calls = 0;
    // A fetch that loses the first answer to a 503 and the second by applying the write and then failing.
    const flaky: typeof fetch = async (input, init) => {
      if (init?.method !== 'POST') return fetch(input, init);
      bodies.push(JSON.parse(String(init.body)) as { clientId: string; writeId: number });
      calls++;
      if (calls === 1) return new Response(JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }), { status: 503 });
      if (calls === 2) {
        await fetch(input, init); // the server applies it; the answer never reaches the client
        throw new TypeError('fetch failed: connection reset');
      }
      return fetch(input, init);
    };
    const errors: unknown[] = [];
    const c = client(server, room, { fetch: flaky, onError: (e) => errors.push(e) });
    await ready(c);
    const confirmed = await within(c.update({ n: 1 }), 10_000, 'the write confirmed');
    expect(confirmed.version).toBe(2); // applied once: one new version
    expect(bodies.length).toBe(3);
    expect(new Set(bodies.map((b) => `${b.clientId}/${b.writeId}`)).size).toBe(1);
    expect(bodies[0]!.writeId).toBe(1);
    expect(errors.filter((e) => e instanceof ChordClientError && /write 1/.test(e.message)).length).toBe(2);
    await within(c.update({ n: 2 }), 10_000, 'the next write');
    expect(bodies.at(-1)!.writeId).toBe(2);
    expect((await chord.getContext(room))!.version).toBe(3);
  });

  test('writes go one at a time, in order, and all land in that order', async () => {
    const chord = newChord();
    await chord.setContext(room, { log: [] });
    let inFlight = 0;
    let most = 0;
    const server = await serve(chord, async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return true;
    });
    const c = client(server, room);
    await ready(c);
    const log: number[] = [];
    const writes = Array.from({ length: 10 }, (_, i) => {
      log.push(i);
      return c.update({ log: [...log], [`k${i}`]: i });
    });
    expect(c.state!.context.log).toEqual(log);
    const results = await within(Promise.all(writes), 20_000, 'all writes');
    expect(most).toBe(1);
    for (let i = 1; i < results.length; i++) expect(results[i]!.version).toBeGreaterThan(results[i - 1]!.version);
    expect((await chord.getContext(room))!.context.log).toEqual(log);
  });

  test('bad input is a ValidationError and nothing is held; close() rejects pending writes with ChordClientError', async () => {
    const chord = newChord();
    await chord.setContext(room, { n: 0 });
    const held = gate();
    const c = client(await serve(chord, held.authorizeWrite), room);
    await ready(c);
    await expect(c.update({ when: new Date() as never })).rejects.toBeInstanceOf(ValidationError);
    await expect(c.update([] as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(c.set({ f: (() => 1) as never })).rejects.toBeInstanceOf(ValidationError);
    await expect(c.update({ n: 1 }, { expectedVersion: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(c.update({ n: 1 }, { expectedVersionn: 1 } as never)).rejects.toBeInstanceOf(ValidationError);
    expect(c.pending).toBe(0);
    const pending = c.update({ n: 1 });
    c.close();
    await expect(pending).rejects.toBeInstanceOf(ChordClientError);
    expect(c.pending).toBe(0);
    await expect(c.update({ n: 2 })).rejects.toBeInstanceOf(ChordClientError);
    held.release();
  });
});

const CLIENTS = 50;
const WRITES_EACH = 20;
const SERVER_WRITES = 40;
const KEYS = 12;

for (const target of liveTargets()) {
  describe.skipIf(noWriteIds(target) !== undefined)(`many writing clients on ${target.name}${skipNote(noWriteIds(target))}`, () => {
    test(
      `${CLIENTS} clients × ${WRITES_EACH} random updates (with unset) while the server writes too: all end equal to the server, nothing pending, no confirmed write lost`,
      async () => {
        const seed = Number(process.env.CHORD_WRITES_SEED ?? Math.floor(Math.random() * 2 ** 31));
        const next = random(seed);
        const backend: ChordBackend = await target.harness.makeBackend({ clock: Date.now });
        cleanups.push(() => (target.harness.dispose ?? ((b: ChordBackend) => (b as { close?: () => Promise<void> }).close?.()))(backend));
        const chord = new Chord({ backend, watchPollMs: 50 });
        await chord.setContext('board', { title: 'board' });
        const server = await serve(chord);
        // Each client's fetch notes the version the server answered for each of its write ids.
        const answers = Array.from({ length: CLIENTS }, () => new Map<number, number>());
        const clients = answers.map((answered) =>
          client(server, 'board', {
            fetch: async (input, init) => {
              const response = await fetch(input, init);
              if (init?.method === 'POST' && response.ok) {
                const { writeId } = JSON.parse(String(init.body)) as { writeId: number };
                answered.set(writeId, ((await response.clone().json()) as { version: number }).version);
              }
              return response;
            },
          }),
        );
        await within(Promise.all(clients.map(ready)), 60_000, 'every client connected');

        // Each value written is unique, so where it ends up tells who wrote it and when.
        interface Made { key: string; value: string | null; version: number }
        const confirmedWrites: Made[] = [];
        const key = (): string => `k${Math.floor(next() * KEYS)}`;
        const writer = async (c: ChordClient, who: number): Promise<void> => {
          for (let i = 0; i < WRITES_EACH; i++) {
            const k = key();
            const remove = next() < 0.25;
            const value = `c${who}w${i}`;
            const changes: ContextChanges = remove ? { [k]: unset } : { [k]: value, nested: { [k]: next() < 0.5 ? value : unset } };
            const state = await c.update(changes);
            const version = answers[who]!.get(i + 1)!; // write ids are 1, 2, 3…
            expect(state.version).toBeGreaterThanOrEqual(version); // resolved with a confirmed state that holds it
            confirmedWrites.push({ key: k, value: remove ? null : value, version });
            if (next() < 0.3) await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 5)));
          }
        };
        const serverWriter = async (): Promise<void> => {
          for (let i = 0; i < SERVER_WRITES; i++) {
            const k = key();
            const remove = next() < 0.25;
            const value = `s${i}`;
            const { context } = await chord.updateContext('board', remove ? { [k]: unset } : { [k]: value });
            confirmedWrites.push({ key: k, value: remove ? null : value, version: context.version });
            await new Promise((resolve) => setTimeout(resolve, Math.floor(next() * 10)));
          }
        };
        await within(Promise.all([...clients.map((c, i) => writer(c, i)), serverWriter()]), 180_000, `all writes (seed ${seed})`);

        const stored = (await chord.getContext('board'))!;
        const final = { context: stored.context, version: stored.version, epoch: stored.epoch };
        await within(
          waitFor(() => clients.every((c) => c.confirmed?.version === final.version), 60_000, 'every client at the final version'),
          70_000,
          'the final version',
        );
        for (const c of clients) {
          expect(c.pending).toBe(0);
          expect(c.confirmed).toEqual(final);
          expect(c.state).toEqual(final);
        }
        // Every confirmed write's value is in the final state unless a later version wrote that key.
        const lastVersionOf = new Map<string, number>();
        for (const made of confirmedWrites) lastVersionOf.set(made.key, Math.max(lastVersionOf.get(made.key) ?? 0, made.version));
        for (const made of confirmedWrites) {
          if (made.version < (lastVersionOf.get(made.key) ?? 0)) continue; // overwritten by a later write
          if (made.value === null) expect(stored.context[made.key], `seed ${seed}: ${made.key} unset at v${made.version}`).toBeUndefined();
          else expect(stored.context[made.key], `seed ${seed}: ${made.key}=${made.value} at v${made.version}`).toBe(made.value);
        }
        expect(stored.version).toBeGreaterThan(CLIENTS * WRITES_EACH * 0.5);
      },
      DATABASE_TEST_TIMEOUT_MS,
    );
  });
}
