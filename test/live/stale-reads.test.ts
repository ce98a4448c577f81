/**
 * Issue 18, point 1: a sync read that must see a change (it starts after the change was written
 * here or announced by a notice) never joins a read that started before the change. The backend
 * here takes its snapshot when a read starts and answers 100 ms later, as a database does behind a
 * slow link: a read joined after a change would answer the state from before it.
 */
import { describe, expect, test } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { Chord } from '../../src/engine/chord.js';
import type { LiveUpdate } from '../../src/live/index.js';

const ANSWER_DELAY_MS = 100;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `backend` whose sync reads take their snapshot at once and answer {@link ANSWER_DELAY_MS} later;
 * writes (and the read a write makes) answer at once, so they land while sync reads are in flight.
 */
function slowSnapshots(backend: MemoryBackend): ChordBackend {
  const delayed = new Set(['readForSync']);
  return new Proxy(backend, {
    get(target, property) {
      // Without it the engine would read the memory backend at once, with no read in flight.
      if (property === 'readForSyncNow') return undefined;
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => Promise<unknown>;
      if (typeof property !== 'string' || !delayed.has(property)) return method.bind(target);
      return async (...args: unknown[]) => {
        const snapshot = await method.apply(target, args);
        await sleep(ANSWER_DELAY_MS);
        return snapshot;
      };
    },
  }) as ChordBackend;
}

interface Follower {
  version: number;
  done: Promise<void>;
}

/**
 * A watcher that keeps the last version it was given, until `signal` aborts. Its consumer takes
 * `consumeMs` per update (as an SSE stream waits for its socket), so watchers at one version ask
 * for the next read at different moments, some after a notice that came while a read was in flight.
 */
function follow(chord: Chord, contextId: string, version: number, epoch: string, consumeMs: number, signal: AbortSignal): Follower {
  const follower: Follower = { version, done: Promise.resolve() };
  follower.done = (async () => {
    for await (const update of chord.watch(contextId, { version, epoch, signal }) as AsyncIterable<LiveUpdate>) {
      if (update.kind === 'delta') follower.version = update.version;
      else if (update.kind === 'full') follower.version = update.context.version;
      await sleep(consumeMs);
    }
  })();
  return follower;
}

async function until(check: () => boolean, boundMs: number): Promise<void> {
  const end = Date.now() + boundMs;
  while (!check() && Date.now() < end) await sleep(10);
}

describe('stale shared reads (slow-snapshot backend)', () => {
  for (const writer of ['the same Chord', 'another Chord on the same storage (a notice)'] as const) {
    test(`25 watchers and 5 writes from ${writer} 30 ms apart: every watcher ends at the last version`, { timeout: 30_000 }, async () => {
      const memory = new MemoryBackend();
      const chord = new Chord({ backend: slowSnapshots(memory) });
      const other = writer === 'the same Chord' ? chord : new Chord({ backend: slowSnapshots(memory) });
      const { context } = await chord.setContext('room', { n: 0 });
      const abort = new AbortController();
      const followers = Array.from({ length: 25 }, (_, i) => follow(chord, 'room', context.version, context.epoch as string, (i % 5) * 15, abort.signal));
      // Let every watcher attach and settle at version 1 (its first read answers no change).
      await sleep(3 * ANSWER_DELAY_MS);
      let last = context.version;
      for (let i = 1; i <= 5; i++) {
        last = (await other.updateContext('room', { n: i })).context.version;
        await sleep(30);
      }
      // A hang bound, not a timing claim: a watcher left behind waits for a notice that has come.
      await until(() => followers.every((f) => f.version === last), 5_000);
      const stuck = followers.filter((f) => f.version !== last).length;
      abort.abort();
      await Promise.all(followers.map((f) => f.done));
      expect({ stuck, last }).toEqual({ stuck: 0, last: 6 });
    });
  }

  test('a syncContext started after a write does not join a read started before it', async () => {
    const chord = new Chord({ backend: slowSnapshots(new MemoryBackend()) });
    const { context } = await chord.setContext('doc', { a: 1 });
    const epoch = context.epoch as string;
    const before = chord.syncContext('doc', 1, { epoch });
    await sleep(10); // the first read has its snapshot
    await chord.updateContext('doc', { a: 2 });
    const after = await chord.syncContext('doc', 1, { epoch });
    expect(await before).toMatchObject({ kind: 'no_change', version: 1 });
    expect(after).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
  });

  test('identical syncs with no change in between still share one read', async () => {
    const memory = new MemoryBackend();
    let reads = 0;
    const backend = slowSnapshots(memory);
    const counting = new Proxy(backend, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property === 'readForSync') {
          return (...args: unknown[]) => {
            reads++;
            return (value as (...a: unknown[]) => unknown)(...args);
          };
        }
        return value;
      },
    });
    const chord = new Chord({ backend: counting });
    const { context } = await chord.setContext('doc', { a: 1 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => chord.syncContext('doc', 1, { epoch: context.epoch as string })));
    expect(reads).toBe(1);
    expect(answers.every((a) => a.kind === 'no_change')).toBe(true);
  });
});
