import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hasImmediateSyncReader, hasSyncReader } from '../backend.js';
import type { ChordBackend } from '../backend.js';
import { applyDelta } from '../delta/index.js';
import { Chord } from '../engine/chord.js';
import type { SyncResult } from '../engine/chord.js';
import { CallbackError, ValidationError, VersionConflictError } from '../errors.js';
import type { JsonObject } from '../types.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { countingBackend, freshId, withEngine } from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';

function expectKind<K extends SyncResult['kind']>(result: SyncResult, kind: K): Extract<SyncResult, { kind: K }> {
  assert.equal(result.kind, kind, `expected ${kind}, got ${JSON.stringify(result).slice(0, 200)}`);
  return result as Extract<SyncResult, { kind: K }>;
}

/** Incompressible text of about `bytes` bytes. */
function noise(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64');
}

/**
 * Epochs (each life of an id tells its versions apart), bounded and shared syncs, queued writes to
 * a hot context, and restores that never overwrite a racing write. Epoch tests need a backend that
 * sets epochs (`options.epochs`, default true).
 */
export function registerEngineLifeTests(api: SuiteApi, harness: BackendHarness, options: EngineSuiteOptions = {}): void {
  const epochs = options.epochs ?? true;
  api.describe('engine epochs and shared syncs', () => {
    if (epochs) {
      api.test('a sync whose merged delta is cached tells the backend (known), which reads only the head; after a write, only the new delta', async () => {
        const seen: Array<{ known: unknown; matched: boolean; versions: number[] }> = [];
        const record = (args: unknown[], read: unknown) => {
          const r = read as { known?: unknown; deltas: Array<{ version: number }> } | null;
          seen.push({ known: args[3], matched: r?.known === true, versions: (r?.deltas ?? []).map((d) => d.version) });
        };
        const wrap = (b: ChordBackend): ChordBackend =>
          new Proxy(b, {
            get(target, property, receiver) {
              const value: unknown = Reflect.get(target, property, receiver);
              if (typeof value !== 'function') return value;
              const fn = value as (...a: unknown[]) => unknown;
              if (property === 'readForSyncNow') {
                return (...args: unknown[]) => {
                  const read = fn.apply(target, args);
                  record(args, read);
                  return read;
                };
              }
              if (property === 'readForSync') {
                return async (...args: unknown[]) => {
                  const read = await fn.apply(target, args);
                  record(args, read);
                  return read;
                };
              }
              return fn.bind(target);
            },
          });
        await withEngine(harness, { wrap }, async ({ chord }) => {
          const id = freshId();
          for (let n = 1; n <= 4; n++) await chord.setContext(id, { n, [`k${n}`]: n });
          const first = expectKind(await chord.syncContext(id, 1), 'delta');
          const second = expectKind(await chord.syncContext(id, 1), 'delta');
          assert.equal(second.delta, first.delta, 'the cached merge');
          assert.deepEqual(applyDelta({ n: 1, k1: 1 }, second.delta), (await chord.getContext(id))?.context);
          assert.equal(seen.length > 0, hasSyncReader(chord.backend), 'sync reads go through readForSync exactly when the backend has it');
          if (seen.length > 0) {
            assert.equal(seen[0]?.known, undefined, 'nothing cached before the first sync');
            assert.deepEqual(seen[0]?.versions, [2, 3, 4]);
            assert.deepEqual(seen[1]?.known, { version: 4, epoch: first.epoch }, 'the second names the cached merge');
            assert.equal(seen[1]?.matched, true, 'and the backend read only the head');
            assert.deepEqual(seen[1]?.versions, []);
          }
          await chord.setContext(id, { n: 5 });
          const third = expectKind(await chord.syncContext(id, 1), 'delta');
          assert.equal(third.version, 5);
          assert.deepEqual(applyDelta({ n: 1, k1: 1 }, third.delta), { n: 5 });
          if (seen.length > 0) {
            assert.deepEqual(seen.at(-1)?.known, { version: 4, epoch: first.epoch });
            assert.deepEqual(seen.at(-1)?.versions, [5], 'a new version: only its delta is read, merged onto the cached one');
          }
          // A client of another version still gets its own merge, from all its deltas.
          const fromThree = expectKind(await chord.syncContext(id, 3), 'delta');
          assert.deepEqual(applyDelta({ n: 3, k3: 3 }, fromThree.delta), { n: 5 });
        });
      });

      api.test('a deleted and re-created context has a new epoch: a client of the old life gets full, never a delta or no_change', async () => {
        await withEngine(harness, {}, async ({ chord }) => {
          const id = freshId();
          await chord.setContext(id, { life: 1, n: 1 });
          await chord.setContext(id, { life: 1, n: 2 });
          const old = await chord.setContext(id, { life: 1, n: 3 });
          const oldEpoch = old.context.epoch;
          assert.equal(typeof oldEpoch, 'string');
          assert.ok((oldEpoch ?? '').length > 0);
          await chord.deleteContext(id);
          await chord.setContext(id, { life: 2, n: 1 });
          const now = await chord.setContext(id, { life: 2, n: 2, extra: true });
          assert.notEqual(now.context.epoch, oldEpoch);
          assert.equal(now.context.version, 2);
          // The same version numbers in the old life: without the epoch they would look current or one behind.
          for (const v of [1, 2, 3]) {
            const full = expectKind(await chord.syncContext(id, v, { epoch: oldEpoch as string }), 'full');
            assert.deepEqual(full.context.context, { life: 2, n: 2, extra: true });
            assert.equal(full.context.epoch, now.context.epoch);
          }
          const delta = expectKind(await chord.syncContext(id, 1, { epoch: now.context.epoch as string }), 'delta');
          assert.equal(delta.epoch, now.context.epoch);
          assert.deepEqual(applyDelta({ life: 2, n: 1 }, delta.delta), { life: 2, n: 2, extra: true });
          const same = expectKind(await chord.syncContext(id, 2, { epoch: now.context.epoch as string }), 'no_change');
          assert.equal(same.epoch, now.context.epoch);
        });
      });

      api.test('a context expired by contextTtl comes back with a new epoch', async () => {
        await withEngine(harness, { contextTtl: 1000, deltaTtl: null }, async ({ chord, clock }) => {
          const id = freshId();
          const first = await chord.setContext(id, { a: 1 });
          clock.advance(5000);
          const report = await chord.cleanup();
          assert.equal(report.contextsDeleted, 1);
          const again = await chord.setContext(id, { a: 1 });
          assert.equal(again.context.version, 1);
          assert.notEqual(again.context.epoch, first.context.epoch);
          expectKind(await chord.syncContext(id, 1, { epoch: first.context.epoch as string }), 'full');
        });
      });

      api.test('the epoch is kept by later writes and updates, and returned on records and answers', async () => {
        await withEngine(harness, {}, async ({ chord }) => {
          const id = freshId();
          const { context } = await chord.setContext(id, { a: 1 });
          const epoch = context.epoch;
          assert.equal((await chord.updateContext(id, { b: 2 })).context.epoch, epoch);
          assert.equal((await chord.setContext(id, { c: 3 })).context.epoch, epoch);
          assert.equal((await chord.getContext(id))?.epoch, epoch);
          assert.equal(expectKind(await chord.syncContext(id, null), 'full').context.epoch, epoch);
          assert.equal(expectKind(await chord.syncContext(id, 1, { epoch: epoch as string }), 'delta').epoch, epoch);
          assert.equal((await chord.backend.listContexts({ contextId: id }))[0]?.epoch, epoch);
        });
      });
    }

    api.test('an epoch option that is not a non-empty string is refused with ValidationError naming options.epoch', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        for (const bad of ['', 5, null, {}, 'x'.repeat(1000)]) {
          await assert.rejects(chord.syncContext(id, 1, { epoch: bad as string }), (error: unknown) => {
            assert.ok(error instanceof ValidationError, String(error));
            assert.equal(error.argument, 'options.epoch');
            return true;
          });
        }
        await assert.rejects(chord.syncContext(id, 1, { nope: 1 } as never), ValidationError);
      });
    });

    api.test('a sync whose deltas add up to more than the context (and the floor) answers full, never builds them', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { big: noise(40_000), n: 0 });
        for (let n = 1; n <= 4; n++) await chord.setContext(id, { big: noise(40_000), n });
        const current = await chord.getContext(id);
        // Each stored delta keeps old and new 40 kB values: one alone is over the 64 KiB floor.
        for (const from of [1, 3, 4]) {
          const full = expectKind(await chord.syncContext(id, from, { epoch: current?.epoch as string }), 'full');
          assert.deepEqual(full.context.context, current?.context);
        }
        await chord.updateContext(id, { n: 99 });
        const small = expectKind(await chord.syncContext(id, 5), 'delta');
        assert.deepEqual(applyDelta(current?.context as JsonObject, small.delta), (await chord.getContext(id))?.context);
      });
    });

    api.test('500 concurrent updates of one context from one process all land, none gives up', async () => {
      await withEngine(harness, { maxWriteAttempts: 3 }, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { start: true });
        const results = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => chord.updateContext(id, { [`k${i}`]: i })));
        const failed = results.filter((r) => r.status === 'rejected');
        assert.equal(failed.length, 0, `failures: ${String((failed[0] as PromiseRejectedResult | undefined)?.reason)}`);
        const final = await chord.getContext(id);
        assert.equal(final?.version, 501);
        for (let i = 0; i < 500; i++) assert.equal(final?.context[`k${i}`], i);
      });
    }, 120_000);

    api.test('identical syncs in flight share one backend read, and merged deltas are built once for all clients', async () => {
      let counted: Map<string, number> | undefined;
      const wrap = (b: ChordBackend): ChordBackend => {
        const { backend, calls } = countingBackend(b);
        counted = calls;
        return backend;
      };
      await withEngine(harness, { wrap }, async ({ chord }) => {
        const id = freshId();
        for (let n = 1; n <= 5; n++) await chord.setContext(id, { n, [`k${n}`]: n });
        const immediate = hasImmediateSyncReader(chord.backend);
        const readMethod = immediate ? 'readForSyncNow' : hasSyncReader(chord.backend) ? 'readForSync' : 'getContext';
        const before = counted?.get(readMethod) ?? 0;
        const answers = await Promise.all(Array.from({ length: 50 }, () => chord.syncContext(id, 2)));
        const first = expectKind(answers[0] as SyncResult, 'delta');
        if (immediate) {
          // Answered at once from this process's memory: no sync is ever in flight, so none waits on
          // another; the deltas are read for the first and the cached merge serves the other 49.
          assert.equal((counted?.get(readMethod) ?? 0) - before, 50, `${readMethod} calls for 50 syncs`);
          assert.equal(counted?.get('readForSync') ?? 0, 0, 'no promise-returning read');
          for (const answer of answers) assert.equal(expectKind(answer, 'delta').delta, first.delta, 'one merged delta shared');
        } else {
          assert.equal((counted?.get(readMethod) ?? 0) - before, 1, `${readMethod} calls for 50 identical syncs in flight`);
          for (const answer of answers) assert.equal(answer, first, 'one answer shared');
        }
        if (first.epoch !== undefined) {
          const later = expectKind(await chord.syncContext(id, 2), 'delta');
          assert.equal(later.delta, first.delta, 'the merged delta comes from the cache');
        }
      });
    });

    api.test('a write racing a restore is never overwritten: the restore throws VersionConflictError and the write stays', async () => {
      let provided = { context: { restored: true } as JsonObject, version: 10 };
      await withEngine(harness, { contextProvider: async () => provided }, async ({ chord, backend }) => {
        const id = freshId();
        for (let n = 1; n <= 3; n++) await chord.setContext(id, { n });
        const other = new Chord({ backend }); // another process on the same storage
        if (typeof (backend as { restoreVersion?: unknown }).restoreVersion !== 'function') return;
        // A backend whose restore lets the other process's write land first, between the engine's read and its write.
        const racing = new Proxy(backend, {
          get(target, property, receiver) {
            const value: unknown = Reflect.get(target, property, receiver);
            if (typeof value !== 'function') return value;
            if (property !== 'restoreVersion') return (value as (...a: unknown[]) => unknown).bind(target);
            return async (...args: unknown[]) => {
              await other.setContext(id, { n: 4, racing: true });
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            };
          },
        });
        const raced = new Chord({ backend: racing, contextProvider: async () => provided });
        await assert.rejects(raced.restoreContext(id), VersionConflictError);
        const stored = await chord.getContext(id);
        assert.deepEqual(stored?.context, { n: 4, racing: true });
        assert.equal(stored?.version, 4);
        const delta = expectKind(await chord.syncContext(id, 3), 'delta');
        assert.deepEqual(applyDelta({ n: 3 }, delta.delta), { n: 4, racing: true });
        // Without a race the same restore goes through.
        provided = { context: { restored: true }, version: 10 };
        assert.equal((await chord.restoreContext(id)).version, 10);
      });
    });

    api.test('exportContext and contextProvider failures come out as CallbackError naming the callback, with the cause kept', async () => {
      const boom = new Error('archive offline');
      const failing = { exportContext: async () => Promise.reject(boom), contextProvider: async () => Promise.reject(boom) };
      await withEngine(harness, failing, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        for (const [call, name] of [[() => chord.exportContext(id), 'exportContext'], [() => chord.restoreContext(id), 'contextProvider']] as const) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof CallbackError, String(error));
            assert.equal(error.code, 'callback_failed');
            assert.equal(error.callback, name);
            assert.equal(error.contextId, id);
            assert.equal(error.cause, boom);
            return true;
          });
        }
      });
    });

    api.test('a stored delta that is not a delta makes sync answer full from the sound context, never blame the caller', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        for (let n = 1; n <= 3; n++) await chord.setContext(id, { n });
        await backend.setDelta(id, { bogus: 'not a delta node' }, 2);
        const answer = expectKind(await chord.syncContext(id, 1), 'full');
        assert.deepEqual(answer.context.context, { n: 3 });
        const delta = expectKind(await chord.syncContext(id, 2), 'delta');
        assert.deepEqual(applyDelta({ n: 2 }, delta.delta), { n: 3 });
      });
    });

    api.test('restoring to the largest safe version is refused: nothing could be written on it', async () => {
      const provided = { context: { a: 1 } as JsonObject, version: Number.MAX_SAFE_INTEGER };
      await withEngine(harness, { contextProvider: async () => provided }, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 0 });
        await assert.rejects(chord.restoreContext(id), (error: unknown) => {
          assert.ok(error instanceof ValidationError, String(error));
          assert.equal(error.argument, 'contextProvider result.version');
          return true;
        });
        assert.equal((await chord.updateContext(id, { b: 1 })).context.version, 2);
      });
    });
  });
}
