import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { Chord } from '../../../src/engine/chord.js';
import { MemoryBackend } from '../../../src/backends/memory/memory-backend.js';
import { SortedIdSet } from '../../../src/backends/memory/sorted-id-set.js';
import { compareCodePoints } from '../../../src/backends/memory/code-point-order.js';

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

// A small alphabet, so ids collide and share prefixes, weighted toward the characters UTF-16 order
// gets wrong (U+E000–U+FFFF against U+10000 and up, stored as surrogate pairs).
const id = fc.string({ unit: fc.constantFrom('a', 'B', 'b', 'é', '\uE000', '\uFFFF', '😀', '𐀀'), minLength: 1, maxLength: 4 });

/** Whether `walk` is strictly ascending (or descending) in code point order: in order, no id twice. */
function strictlyOrdered(walk: readonly string[], order: 'asc' | 'desc'): boolean {
  const sign = order === 'asc' ? -1 : 1;
  return walk.every((x, i) => i === 0 || Math.sign(compareCodePoints(walk[i - 1] as string, x)) === sign);
}

describe('SortedIdSet', () => {
  test('holds the same ids in the same order as a sorted array, after any adds and deletes', () => {
    const ops = fc.array(fc.tuple(fc.boolean(), id), { maxLength: 400 });
    fc.assert(
      fc.property(ops, (steps) => {
        const set = new SortedIdSet();
        const model: string[] = [];
        for (const [remove, x] of steps) {
          const at = model.indexOf(x);
          if (remove) {
            set.delete(x);
            if (at !== -1) model.splice(at, 1);
          } else {
            set.add(x);
            if (at === -1) model.push(x);
          }
          model.sort(utf8Order);
        }
        expect([...set.values()]).toEqual(model);
        expect([...set.values('desc')]).toEqual(model.toReversed());
        expect(set.size).toBe(model.length);
        for (const [, x] of steps) expect(set.has(x)).toBe(model.includes(x));
      }),
      { numRuns: 300 },
    );
  });

  test('a walk that the set changes under stays in order, and sees every id that was there throughout exactly once', () => {
    // Enough ids that a walk spans several of the chunks values() reads at a time.
    const start = fc.uniqueArray(id, { minLength: 50, maxLength: 600 });
    const changes = fc.array(fc.tuple(fc.nat(700), fc.boolean(), id), { maxLength: 60 });
    fc.assert(
      fc.property(start, changes, fc.constantFrom('asc' as const, 'desc' as const), (ids, edits, order) => {
        const set = new SortedIdSet();
        for (const x of ids) set.add(x);
        const touched = new Set<string>();
        const walk: string[] = [];
        let step = 0;
        for (const x of set.values(order)) {
          walk.push(x);
          for (const [at, remove, y] of edits) {
            if (at !== step) continue;
            touched.add(y);
            if (remove) set.delete(y);
            else set.add(y);
          }
          step++;
        }
        expect(strictlyOrdered(walk, order)).toBe(true);
        const untouched = ids.filter((x) => !touched.has(x));
        const seen = new Set(walk);
        expect(untouched.filter((x) => !seen.has(x))).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

/** Resolves with whether a timer set as `run` starts fired before `run` ended. */
async function timerFiresDuring(run: () => Promise<unknown>): Promise<boolean> {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
  }, 0);
  try {
    await run();
    return fired;
  } finally {
    clearTimeout(timer);
  }
}

describe('MemoryBackend gives the event loop turns during long calls', () => {
  // Many ids, so every call below walks far; the backend gives a turn at every chance
  // (turnIntervalMs 0), so whether a timer fires depends on the turns, never on the machine's speed.
  const IDLE = 20_000;

  async function idleBackend(count: number): Promise<{ backend: MemoryBackend; clock: { now: number } }> {
    const clock = { now: 1000 };
    const backend = new MemoryBackend({ clock: () => clock.now, turnIntervalMs: 0 });
    for (let n = 0; n < count; n++) {
      // Random-looking ids, so the id index takes inserts everywhere, as it does in use.
      const id = `ctx:${((n * 2_654_435_761) >>> 0).toString(16)}:${n}`;
      await backend.writeVersion(id, { n }, { n: [n] }, 0);
    }
    return { backend, clock };
  }

  test(`a timer set as a cleanup of ${IDLE / 1000}k idle contexts starts fires before the cleanup ends`, { timeout: 30_000 }, async () => {
    const { backend, clock } = await idleBackend(IDLE);
    clock.now = 1_000_000;
    const chord = new Chord({ backend, clock: () => clock.now, contextTtl: 1000, deltaTtl: null });
    let report: Awaited<ReturnType<Chord['cleanup']>> | undefined;
    const fired = await timerFiresDuring(async () => {
      report = await chord.cleanup();
    });
    expect(fired).toBe(true);
    expect(report?.contextsDeleted).toBe(IDLE);
    expect(report?.deltasDeleted.withContexts).toBe(IDLE);
    expect(await backend.listContexts()).toEqual([]);
  });

  test('timers fire during the delta cleanups, each judged on what is stored when it is reached', { timeout: 30_000 }, async () => {
    const { backend, clock } = await idleBackend(IDLE);
    for (let n = 0; n < IDLE; n += 2) await backend.setDelta(`extra:${n}`, { n: [n] }, 2);
    clock.now = 1_000_000;
    expect(await timerFiresDuring(() => backend.deleteDeltasBeyondNewest(0, IDLE * 2))).toBe(true);
    expect(await backend.listDeltas({ limit: 1 })).toEqual([]);
    for (let n = 0; n < IDLE; n++) await backend.setDelta(`old:${n}`, { n: [n] }, 1);
    clock.now = 2_000_000;
    expect(await timerFiresDuring(() => backend.deleteDeltasOlderThan(1_500_000, IDLE * 2))).toBe(true);
    expect(await backend.listDeltas({ limit: 1 })).toEqual([]);
  });

  test('a context written while a cleanup gives way is judged on that write, not on what it was before', { timeout: 30_000 }, async () => {
    const { backend, clock } = await idleBackend(IDLE);
    const [last] = await backend.listContexts({ limit: 1, order: 'desc' });
    const rewritten = last?.contextId as string;
    clock.now = 1_000_000;
    const writes: Promise<unknown>[] = [];
    // Written during the cleanup's first turn: an idle id made fresh again, and a new id.
    const timer = setTimeout(() => {
      writes.push(backend.setContext(rewritten, { fresh: true }, 2), backend.setContext('fresh:new', { fresh: true }, 1));
    }, 0);
    try {
      const deleted = await backend.deleteIdleContexts(500_000, IDLE * 2);
      await Promise.all(writes);
      expect(writes).toHaveLength(2);
      expect(deleted.contexts).toBe(IDLE - 1);
      expect((await backend.getContext(rewritten))?.context).toEqual({ fresh: true });
      expect(await backend.getContext('fresh:new')).not.toBeNull();
    } finally {
      clearTimeout(timer);
    }
  });

  test(`timers fire during listings of ${IDLE / 1000}k contexts, which stay ordered while writes land in their turns`, { timeout: 30_000 }, async () => {
    const { backend } = await idleBackend(IDLE);
    const all = (await backend.listContexts()).map((r) => r.contextId);
    expect(all).toHaveLength(IDLE);
    expect(strictlyOrdered(all, 'asc')).toBe(true);

    // Every 1 ms while the listings run: delete one id and add one, spread over the key space.
    const deleted = new Set<string>();
    let n = 0;
    const churn = setInterval(() => {
      const victim = all[(n * 7919) % all.length] as string;
      deleted.add(victim);
      void backend.deleteContext(victim);
      void backend.deleteDeltasForContext(victim);
      void backend.writeVersion(`ctx:${n.toString(16)}:new`, { n }, { n: [n] }, 0).catch(() => {});
      n++;
    }, 1);
    try {
      for (const order of ['asc', 'desc'] as const) {
        let listed: string[] = [];
        expect(await timerFiresDuring(async () => (listed = (await backend.listContexts({ order })).map((r) => r.contextId)))).toBe(true);
        expect(strictlyOrdered(listed, order)).toBe(true);
        const seen = new Set(listed);
        expect(all.filter((x) => !deleted.has(x) && !seen.has(x))).toEqual([]);

        let deltas: string[] = [];
        expect(await timerFiresDuring(async () => (deltas = (await backend.listDeltas({ order })).map((d) => d.contextId)))).toBe(true);
        expect(strictlyOrdered(deltas, order)).toBe(true);

        let counted: string[] = [];
        expect(
          await timerFiresDuring(async () => (counted = (await backend.listContextsWithDeltaCounts({ order })).map((c) => c.contextId))),
        ).toBe(true);
        expect(strictlyOrdered(counted, order)).toBe(true);
      }
    } finally {
      clearInterval(churn);
    }
    expect(n).toBeGreaterThan(0);
  });
});
