import * as assert from 'node:assert/strict';
import { hasChangeNotifier } from '../backend.js';
import type { ChordBackend } from '../backend.js';
import { applyDelta } from '../delta/index.js';
import { Chord } from '../engine/chord.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { LiveUpdate } from '../live/index.js';
import type { JsonObject } from '../types.js';
import { countingBackend, freshId, seedOnly, withEngine } from './engine-support.js';
import type { EngineFixture, FixtureConfig } from './engine-support.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { registerWriteIdTests } from './client-writes.js';

type FastCheck = typeof import('fast-check');

// fast-check is loaded only when the property test runs, so `chord-sync/testing` imports without it.
async function loadFastCheck(): Promise<FastCheck> {
  try {
    return await import('fast-check');
  } catch (cause) {
    throw new Error('the live property test needs the fast-check package: npm install --save-dev fast-check', { cause });
  }
}

/** Options of the live conformance section. */
export interface LiveSuiteOptions {
  /**
   * Whether the backend has `subscribeChanges` (the `ChangeNotifier` capability). When `true` the
   * suite requires it and also tests that N watchers cost one read per change; when `false` every
   * watch test runs on polling. Default: `true`.
   */
  readonly changeNotices?: boolean;
  /** `watchPollMs` of the engines the suite makes (only used when polling). Default: 10. */
  readonly pollMs?: number;
  /** Longest wait, in ms, for any one update before a test fails. Default: 10 000. */
  readonly updateTimeoutMs?: number;
  /** Random histories of the property test. Default: 25. */
  readonly propertyRuns?: number;
  /**
   * Whether to run the writes section (write ids applied once; the backend must have the
   * `WriteIdRecorder` capability, as the sync route needs to take client writes). Default: `true`.
   */
  readonly writes?: boolean;
}

interface Resolved {
  readonly changeNotices: boolean;
  readonly pollMs: number;
  readonly updateTimeoutMs: number;
  readonly propertyRuns: number;
}

/** `it.next()`, failing with `what` when nothing comes within `ms` (so no test can hang). */
export async function nextWithin<T>(it: AsyncIterator<T>, ms: number, what: string): Promise<IteratorResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next update of `it`, failing when the watch ended or nothing comes within `ms`. */
export async function nextUpdate(it: AsyncIterator<LiveUpdate>, ms: number, what: string): Promise<LiveUpdate> {
  const result = await nextWithin(it, ms, what);
  assert.ok(result.done !== true, `the watch ended while waiting for ${what}`);
  return result.value;
}

/**
 * What a client holding the updates of one watch has: it checks every update starts where the
 * previous one ended (a delta from exactly the version and epoch held), then applies it.
 */
export class LiveHolder {
  state: { context: JsonObject; version: number; epoch: string | undefined } | null = null;

  constructor(start: { context: JsonObject; version: number; epoch: string | undefined } | null = null) {
    this.state = start;
  }

  apply(update: LiveUpdate): void {
    switch (update.kind) {
      case 'full':
        this.state = { context: update.context.context, version: update.context.version, epoch: update.context.epoch };
        return;
      case 'deleted':
        assert.ok(this.state !== null, 'deleted came to a holder of nothing');
        this.state = null;
        return;
      case 'delta': {
        const held = this.state;
        assert.ok(held !== null, `a delta from ${update.fromVersion} came to a holder of nothing`);
        assert.equal(update.fromVersion, held.version, 'a delta must start at the version held');
        if (held.epoch !== undefined) assert.equal(update.epoch, held.epoch, 'a delta must be of the epoch held');
        assert.ok(update.version > update.fromVersion, 'a delta must move forward');
        this.state = { context: applyDelta(held.context, update.delta), version: update.version, epoch: update.epoch || held.epoch };
        return;
      }
    }
  }
}

/** JSON with object keys sorted at every level: equal for equal values whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** `null` for a `NotFoundError` (an update of a deleted context), else the error again. */
function ignoreNotFound(error: unknown): null {
  if (error instanceof NotFoundError) return null;
  throw error;
}

function liveTest(
  api: SuiteApi,
  harness: BackendHarness,
  options: Resolved,
): (name: string, body: (fixture: EngineFixture) => Promise<void>, config?: FixtureConfig) => void {
  return (name, body, config = {}) => {
    api.test(
      name,
      () =>
        withEngine(harness, { watchPollMs: options.pollMs, ...config }, async (fixture) => {
          if (options.changeNotices) {
            assert.ok(hasChangeNotifier(fixture.backend), 'the backend has no subscribeChanges (ChangeNotifier)');
          }
          await body(fixture);
        }),
      // Generous: a test waits for several updates, each bounded by updateTimeoutMs.
      options.updateTimeoutMs * 6,
    );
  };
}

/** Another engine on the same storage: what a second process would be, as far as the backend can tell. */
function writerOn(backend: ChordBackend): Chord {
  return new Chord({ backend });
}

/**
 * The live section: `chord.watch` on backends made by `harness`, with the backend's change
 * notices (or polling, with `changeNotices: false`). Every test makes its own backend.
 */
export function registerLiveTests(api: SuiteApi, harness: BackendHarness, options: LiveSuiteOptions = {}): void {
  const resolved: Resolved = {
    changeNotices: options.changeNotices ?? true,
    pollMs: options.pollMs ?? 10,
    updateTimeoutMs: options.updateTimeoutMs ?? 10_000,
    propertyRuns: options.propertyRuns ?? 25,
  };
  const ms = resolved.updateTimeoutMs;
  const test = liveTest(api, harness, resolved);

  api.describe('live: watch', () => {
    test('catch-up: from nothing the full context, from an older version one delta to now, from the current version nothing until it changes', async ({ chord, backend }) => {
      const id = freshId('live');
      await chord.setContext(id, { a: 1 });
      await chord.setContext(id, { a: 2, b: [1] });
      const { context: v3 } = await chord.setContext(id, { a: 3, b: [1, 2] });

      const fromNothing = chord.watch(id);
      const full = await nextUpdate(fromNothing, ms, 'the catch-up from nothing');
      assert.equal(full.kind, 'full');
      assert.ok(full.kind === 'full');
      assert.deepEqual(full.context.context, v3.context);
      assert.equal(full.context.version, 3);
      await fromNothing.return?.();

      const fromOne = chord.watch(id, { version: 1, epoch: v3.epoch });
      const delta = await nextUpdate(fromOne, ms, 'the catch-up from version 1');
      assert.ok(delta.kind === 'delta', `expected a delta, got ${delta.kind}`);
      assert.equal(delta.fromVersion, 1);
      assert.equal(delta.version, 3);
      assert.equal(delta.epoch, v3.epoch ?? '');
      assert.deepEqual(applyDelta({ a: 1 }, delta.delta), v3.context);
      await fromOne.return?.();

      const current = chord.watch(id, { version: 3, epoch: v3.epoch });
      const pending = nextUpdate(current, ms, 'the change after a current catch-up');
      await writerOn(backend).updateContext(id, { c: true });
      const next = await pending;
      assert.ok(next.kind === 'delta', `expected a delta, got ${next.kind}`);
      assert.deepEqual([next.fromVersion, next.version], [3, 4], 'the first update of a current watcher is the change after it');
      await current.return?.();
    });

    test('a context that does not exist yet is waited for, then comes whole', async ({ chord, backend }) => {
      const id = freshId('live');
      const watch = chord.watch(id);
      const pending = nextUpdate(watch, ms, 'the context to be created');
      await writerOn(backend).setContext(id, { born: true });
      const first = await pending;
      assert.ok(first.kind === 'full', `expected full, got ${first.kind}`);
      assert.deepEqual(first.context.context, { born: true });
      assert.equal(first.context.version, 1);
      await watch.return?.();
    });

    test('one update per change, each from the version last yielded, whether this engine or another on the storage wrote it', async ({ chord, backend }) => {
      const id = freshId('live');
      const other = writerOn(backend);
      await chord.setContext(id, { n: 0 });
      const watch = chord.watch(id);
      const holder = new LiveHolder();
      holder.apply(await nextUpdate(watch, ms, 'the catch-up'));
      for (let n = 1; n <= 6; n++) {
        const pending = nextUpdate(watch, ms, `the update for write ${n}`);
        const writer = n % 2 === 0 ? chord : other;
        const { context } = await writer.updateContext(id, { n, [`k${n}`]: n });
        const update = await pending;
        assert.equal(update.kind, 'delta', `write ${n}`);
        holder.apply(update);
        assert.deepEqual(holder.state?.context, context.context, `after write ${n}`);
        assert.equal(holder.state?.version, context.version);
      }
      await watch.return?.();
    });

    test('a slow consumer gets one update spanning every write it missed, and nothing is queued behind it', async ({ chord, backend }) => {
      const id = freshId('live');
      const other = writerOn(backend);
      await other.setContext(id, { n: 0 });
      const watch = chord.watch(id);
      const holder = new LiveHolder();
      holder.apply(await nextUpdate(watch, ms, 'the catch-up'));
      let last = 1;
      for (let n = 1; n <= 40; n++) last = (await other.updateContext(id, { n, [`k${n % 7}`]: n })).context.version;
      assert.equal(last, 41);
      const spanning = await nextUpdate(watch, ms, 'the update after 40 writes');
      holder.apply(spanning);
      assert.equal(holder.state?.version, 41, 'one update reaches the latest version');
      if (spanning.kind === 'delta') assert.equal(spanning.fromVersion, 1, 'from the version last yielded');
      assert.deepEqual(holder.state?.context, (await other.getContext(id))?.context);

      // Had updates queued for the 40 writes, the next one would start below 41.
      const pending = nextUpdate(watch, ms, 'the update after one more write');
      await other.updateContext(id, { after: true });
      const next = await pending;
      assert.ok(next.kind === 'delta', `expected a delta, got ${next.kind}`);
      assert.deepEqual([next.fromVersion, next.version], [41, 42]);
      await watch.return?.();
    });

    test('deleted when the context goes, then full, in a new epoch, once it exists again', async ({ chord, backend }) => {
      const id = freshId('live');
      const other = writerOn(backend);
      const { context: first } = await other.setContext(id, { life: 1 });
      await other.updateContext(id, { more: true });
      const watch = chord.watch(id);
      const holder = new LiveHolder();
      holder.apply(await nextUpdate(watch, ms, 'the catch-up'));

      const gone = nextUpdate(watch, ms, 'the deletion');
      assert.equal(await other.deleteContext(id), true);
      const deleted = await gone;
      assert.deepEqual(deleted, { kind: 'deleted', contextId: id });
      holder.apply(deleted);

      const back = nextUpdate(watch, ms, 'the re-creation');
      const { context: second } = await other.setContext(id, { life: 2 });
      const full = await back;
      assert.ok(full.kind === 'full', `expected full, got ${full.kind}`);
      assert.deepEqual(full.context.context, { life: 2 });
      assert.equal(full.context.version, 1);
      if (first.epoch !== undefined) {
        assert.equal(full.context.epoch, second.epoch);
        assert.notEqual(second.epoch, first.epoch, 'a re-created context has a new epoch');
      }
      await watch.return?.();
    });

    test('a watch from a version of a context that is gone yields deleted, then waits for it', async ({ chord, backend }) => {
      const id = freshId('live');
      const other = writerOn(backend);
      const { context } = await other.setContext(id, { x: 1 });
      await other.deleteContext(id);
      const watch = chord.watch(id, { version: context.version, epoch: context.epoch });
      assert.deepEqual(await nextUpdate(watch, ms, 'the deletion'), { kind: 'deleted', contextId: id });
      const pending = nextUpdate(watch, ms, 'the re-creation');
      await other.setContext(id, { x: 2 });
      const full = await pending;
      assert.ok(full.kind === 'full');
      assert.deepEqual(full.context.context, { x: 2 });
      await watch.return?.();
    });

    test('a version of another epoch (an earlier life of the id) gets the full context', async ({ chord }) => {
      const id = freshId('live');
      const { context: old } = await chord.setContext(id, { life: 1 });
      await chord.updateContext(id, { v: 2 });
      await chord.deleteContext(id);
      const { context: now } = await chord.setContext(id, { life: 2 });
      await chord.updateContext(id, { v: 2 });
      await chord.updateContext(id, { v: 3 });
      if (old.epoch === undefined || now.epoch === undefined) return; // a backend without epochs
      const watch = chord.watch(id, { version: 2, epoch: old.epoch });
      const update = await nextUpdate(watch, ms, 'the catch-up from the old epoch');
      assert.ok(update.kind === 'full', `expected full, got ${update.kind}`);
      assert.equal(update.context.epoch, now.epoch);
      assert.deepEqual(update.context.context, { life: 2, v: 3 });
      await watch.return?.();
    });

    test('abort ends a pending next() and every later one; so does return()', async ({ chord }) => {
      const id = freshId('live');
      await chord.setContext(id, { x: 1 });
      const controller = new AbortController();
      const watch = chord.watch(id, { signal: controller.signal });
      await nextUpdate(watch, ms, 'the catch-up');
      const pending = nextWithin(watch, ms, 'the end on abort');
      controller.abort();
      assert.deepEqual(await pending, { done: true, value: undefined });
      await chord.setContext(id, { x: 2 });
      assert.deepEqual(await nextWithin(watch, ms, 'next() after the end'), { done: true, value: undefined });

      const aborted = new AbortController();
      aborted.abort();
      assert.equal((await nextWithin(chord.watch(id, { signal: aborted.signal }), ms, 'a watch aborted before it began')).done, true);

      const other = chord.watch(id);
      await nextUpdate(other, ms, 'the catch-up');
      const waiting = nextWithin(other, ms, 'the end on return()');
      assert.deepEqual(await other.return?.(), { done: true, value: undefined });
      assert.deepEqual(await waiting, { done: true, value: undefined });
      assert.equal((await nextWithin(other, ms, 'next() after return()')).done, true);

      let seen = 0;
      for await (const update of chord.watch(id)) {
        seen++;
        assert.equal(update.kind, 'full');
        break; // ends the watch through return()
      }
      assert.equal(seen, 1);
    });

    test('watch refuses a bad id or option at once with a ValidationError naming it', async ({ chord }) => {
      const cases: Array<[unknown, unknown, string]> = [
        ['', undefined, 'contextId'],
        [42, undefined, 'contextId'],
        ['ok', 'version 3', 'options'],
        ['ok', { version: -1 }, 'options.version'],
        ['ok', { version: 1.5 }, 'options.version'],
        ['ok', { version: 1, epoch: 7 }, 'options.epoch'],
        ['ok', { signal: 'stop' }, 'options.signal'],
        ['ok', { since: 1 }, 'options.since'],
      ];
      for (const [id, options, argument] of cases) {
        assert.throws(
          () => (chord.watch as (id: unknown, options: unknown) => unknown)(id, options),
          (error: unknown) => error instanceof ValidationError && error.argument === argument,
          `watch(${JSON.stringify(id)}, ${JSON.stringify(options)}) must name ${argument}`,
        );
      }
      for (const watchPollMs of [0, -5, 1.5, '100', 2 ** 31]) {
        assert.throws(
          () => new Chord({ watchPollMs: watchPollMs as number }),
          (error: unknown) => error instanceof ValidationError && error.argument === 'config.watchPollMs',
          `watchPollMs ${String(watchPollMs)}`,
        );
      }
    });

    test('without change notices (a backend lacking subscribeChanges) watch polls at watchPollMs', async ({ backend }) => {
      const polling = new Chord({ backend: seedOnly(backend), watchPollMs: resolved.pollMs });
      const id = freshId('live');
      const other = writerOn(backend);
      await other.setContext(id, { x: 1 });
      const watch = polling.watch(id);
      const holder = new LiveHolder();
      holder.apply(await nextUpdate(watch, ms, 'the catch-up'));
      for (let n = 2; n <= 4; n++) {
        const pending = nextUpdate(watch, ms, `the polled update ${n}`);
        await other.setContext(id, { x: n });
        holder.apply(await pending);
        assert.deepEqual(holder.state?.context, { x: n });
      }
      const gone = nextUpdate(watch, ms, 'the polled deletion');
      await other.deleteContext(id);
      assert.deepEqual(await gone, { kind: 'deleted', contextId: id });
      await watch.return?.();
    });

    if (resolved.changeNotices) {
      test('N watchers of one context: one backend read and one merged delta per change, shared by all', async ({ backend }) => {
        const counted = countingBackend(backend);
        const chord = new Chord({ backend: counted.backend, watchPollMs: resolved.pollMs });
        const other = writerOn(backend);
        const id = freshId('live');
        await other.setContext(id, { n: 0 });
        const reads = (): number =>
          ['readForSync', 'readForSyncNow', 'getContext', 'getDeltas'].reduce((sum, method) => sum + (counted.calls.get(method) ?? 0), 0);
        const watchers = Array.from({ length: 25 }, () => chord.watch(id));
        const holders = watchers.map(() => new LiveHolder());
        const firsts = await Promise.all(watchers.map((w, i) => nextUpdate(w, ms, `the catch-up of watcher ${i}`)));
        firsts.forEach((update, i) => holders[i]?.apply(update));
        assert.equal(reads(), 1, 'one read for 25 catch-ups from the same state');
        for (let n = 1; n <= 3; n++) {
          const before = reads();
          const pending = Promise.all(watchers.map((w, i) => nextUpdate(w, ms, `update ${n} of watcher ${i}`)));
          await other.updateContext(id, { n, [`k${n}`]: true });
          const updates = await pending;
          assert.equal(reads() - before, 1, `change ${n}: one backend read for 25 watchers`);
          const first = updates[0];
          assert.ok(first?.kind === 'delta');
          for (const [i, update] of updates.entries()) {
            assert.ok(update.kind === 'delta');
            assert.equal(update.delta, first.delta, `change ${n}: watcher ${i} got the same merged delta, not a copy`);
            holders[i]?.apply(update);
            assert.equal(holders[i]?.state?.version, n + 1);
          }
        }
        await Promise.all(watchers.map((w) => w.return?.()));
      });
    }

    test('property: whatever writes, deletes and consumer pauses, every state held is one the server had, and it ends at the final state', async ({ backend }) => {
      const fc = await loadFastCheck();
      type Step =
        | { readonly kind: 'set'; readonly value: number }
        | { readonly kind: 'update'; readonly key: string; readonly value: number }
        | { readonly kind: 'delete' }
        | { readonly kind: 'consume' };
      const step = fc.oneof(
        fc.record({ kind: fc.constant('set' as const), value: fc.integer({ min: 0, max: 9 }) }),
        fc.record({ kind: fc.constant('update' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.integer({ min: 0, max: 9 }) }),
        fc.constant({ kind: 'delete' as const }),
        fc.constant({ kind: 'consume' as const }),
      );
      const watcherChord = new Chord({ backend, watchPollMs: resolved.pollMs });
      const other = writerOn(backend);
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
          const id = freshId('prop');
          // Every state the server had: "epoch/version" → contexts (JSON; several on a backend without epochs).
          const had = new Map<string, Set<string>>();
          const remember = (r: { epoch?: string; version: number; context: JsonObject }): void => {
            const key = `${r.epoch ?? ''}/${r.version}`;
            had.set(key, (had.get(key) ?? new Set()).add(canonical(r.context)));
          };
          const watch = watcherChord.watch(id);
          const holder = new LiveHolder();
          const check = (update: LiveUpdate): void => {
            holder.apply(update);
            const state = holder.state;
            if (state === null) return;
            const key = `${state.epoch ?? ''}/${state.version}`;
            assert.ok(had.get(key)?.has(canonical(state.context)), `held ${key} ${canonical(state.context)} is not a state the server had`);
          };
          let pending: Promise<IteratorResult<LiveUpdate>> | undefined;
          try {
            for (const s of steps) {
              if (s.kind === 'consume') {
                pending ??= nextWithin(watch, ms, 'an update');
                const result = await Promise.race([pending, new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))]);
                if (result !== undefined) {
                  pending = undefined;
                  assert.ok(result.done !== true);
                  check(result.value);
                }
                continue;
              }
              if (s.kind === 'delete') {
                await other.deleteContext(id);
                continue;
              }
              const written =
                s.kind === 'set' ? await other.setContext(id, { v: s.value }) : await other.updateContext(id, { [s.key]: s.value }).catch(ignoreNotFound);
              if (written !== null) remember(written.context);
            }
            const final = await other.getContext(id);
            const reached = (): boolean =>
              final === null
                ? holder.state === null
                : holder.state !== null && holder.state.version === final.version && holder.state.epoch === final.epoch;
            while (!reached()) {
              const result = await (pending ?? nextWithin(watch, ms, `the final state ${final?.version ?? 'deleted'}`));
              pending = undefined;
              assert.ok(result.done !== true);
              check(result.value);
            }
            if (final !== null) assert.deepEqual(holder.state?.context, final.context);
          } finally {
            await watch.return?.();
            await other.deleteContext(id);
          }
        }),
        { numRuns: resolved.propertyRuns },
      );
    });
  });
}

/**
 * Registers the live conformance section on its own: `chord.watch` on your backend, pushed by its
 * `subscribeChanges` (or polled, with `{ changeNotices: false }`).
 *
 * ```ts
 * import { describe, test } from 'vitest';
 * import { runLiveConformance } from 'chord-sync/testing';
 * runLiveConformance({ describe, test }, { makeBackend: ({ clock }) => new MyBackend({ clock }) });
 * ```
 */
export function runLiveConformance(api: SuiteApi, harness: BackendHarness, options: LiveSuiteOptions = {}): void {
  api.describe('chord-sync live conformance', () => {
    registerLiveTests(api, harness, options);
    // Client writes (the sync route's POST) need write ids applied once: the WriteIdRecorder capability.
    if (options.writes !== false) registerWriteIdTests(api, harness, (options.updateTimeoutMs ?? 10_000) * 6);
  });
}
