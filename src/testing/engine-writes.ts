import * as assert from 'node:assert/strict';
import type { ChordBackend } from '../backend.js';
import { hasAtomicVersionWriter } from '../backend.js';
import { applyDelta, unset } from '../delta/index.js';
import { NotFoundError, ValidationError, VersionConflictError } from '../errors.js';
import type { JsonObject } from '../types.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import {
  freshId,
  resolveEngineSuiteOptions,
  seedOnly,
  storedDeltaVersions,
  withEngine,
} from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';

/** setContext, updateContext, getContext, deleteContext: versions, no-ops, merges, expectedVersion, races. */
export function registerEngineWriteTests(api: SuiteApi, harness: BackendHarness, options: EngineSuiteOptions = {}): void {
  const suite = resolveEngineSuiteOptions(options);

  api.describe('engine writes', () => {
    api.test('the first setContext stores version 1 with a delta from {}', async () => {
      await withEngine(harness, {}, async ({ chord, backend, clock }) => {
        const id = freshId();
        const context = { status: 'online', n: 1 };
        const result = await chord.setContext(id, context);
        assert.equal(result.context.version, 1);
        assert.deepEqual(result.context.context, context);
        assert.equal(result.context.contextId, id);
        assert.equal(result.context.insertedAt, clock());
        assert.ok(result.delta !== null);
        assert.equal(result.delta.version, 1);
        assert.deepEqual(applyDelta({}, result.delta.delta), context);
        assert.deepEqual((await chord.getContext(id))?.context, context);
        assert.deepEqual(await storedDeltaVersions(backend, id), [1]);
      });
    });

    api.test('each changing write stores the next version and a delta from the previous context', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        const v1 = { a: 1, b: { c: 'x' } };
        const v2 = { a: 2, b: { c: 'x', d: [1, 2] } };
        await chord.setContext(id, v1);
        const second = await chord.setContext(id, v2);
        assert.equal(second.context.version, 2);
        assert.ok(second.delta !== null);
        assert.equal(second.delta.version, 2);
        assert.deepEqual(applyDelta(v1, second.delta.delta), v2);
        assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2]);
      });
    });

    api.test('setContext with {} on a missing context creates it at version 1', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        const result = await chord.setContext(id, {});
        assert.equal(result.context.version, 1);
        assert.deepEqual(result.context.context, {});
        assert.equal((await chord.getContext(id))?.version, 1);
      });
    });

    api.test('a setContext that changes nothing writes nothing and returns the stored record with delta null', async () => {
      await withEngine(harness, {}, async ({ chord, backend, clock }) => {
        const id = freshId();
        const first = await chord.setContext(id, { a: { b: [1, { c: null }] } });
        clock.advance(1000);
        const again = await chord.setContext(id, { a: { b: [1, { c: null }] } });
        assert.equal(again.delta, null);
        assert.deepEqual(again.context, first.context);
        assert.equal(again.context.insertedAt, first.context.insertedAt, 'a no-op must not touch the record');
        assert.deepEqual(await storedDeltaVersions(backend, id), [1]);
      });
    });

    api.test('an updateContext that changes nothing writes nothing and returns the stored record with delta null', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        const first = await chord.setContext(id, { a: 1, nested: { b: 'x' } });
        for (const changes of [{}, { a: 1 }, { nested: { b: 'x' } }, { nested: {} }, { gone: unset }]) {
          const result = await chord.updateContext(id, changes as JsonObject);
          assert.equal(result.delta, null, `changes ${JSON.stringify(changes)} should be a no-op`);
          assert.deepEqual(result.context, first.context);
        }
        assert.deepEqual(await storedDeltaVersions(backend, id), [1]);
      });
    });

    api.test('updateContext deep-merges: objects recurse, other values replace', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { status: 'online', metadata: { theme: 'light', language: 'en-US' }, tags: [1, 2] });
        const { context, delta } = await chord.updateContext(id, { metadata: { theme: 'dark' }, tags: [3] });
        assert.deepEqual(context.context, { status: 'online', metadata: { theme: 'dark', language: 'en-US' }, tags: [3] });
        assert.equal(context.version, 2);
        assert.ok(delta !== null);
      });
    });

    api.test('updateContext with unset deletes keys at any depth; unset of a missing key changes nothing', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1, b: { c: { d: 1, e: 2 }, f: 3 } });
        const { context } = await chord.updateContext(id, { a: unset, b: { c: { d: unset } } } as unknown as JsonObject);
        assert.deepEqual(context.context, { b: { c: { e: 2 }, f: 3 } });
        assert.equal(context.version, 2);
        const noop = await chord.updateContext(id, { b: { nope: unset } } as unknown as JsonObject);
        assert.equal(noop.delta, null);
        assert.deepEqual((await chord.getContext(id))?.context, { b: { c: { e: 2 }, f: 3 } });
      });
    });

    api.test('null is stored as a value, not a deletion', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1, b: { c: 2 } });
        const { context } = await chord.updateContext(id, { a: null, b: { c: null } });
        assert.deepEqual(context.context, { a: null, b: { c: null } });
        assert.ok(Object.hasOwn(context.context, 'a'));
        const set = await chord.setContext(id, { a: null });
        assert.deepEqual(set.context.context, { a: null });
        assert.deepEqual((await chord.getContext(id))?.context, { a: null });
      });
    });

    api.test('updateContext on a missing context throws NotFoundError and writes nothing', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        await assert.rejects(chord.updateContext(id, { a: 1 }), NotFoundError);
        assert.equal(await chord.getContext(id), null);
        assert.deepEqual(await storedDeltaVersions(backend, id), []);
      });
    });

    api.test('expectedVersion equal to the stored version writes', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        const created = await chord.setContext(id, { a: 1 }, { expectedVersion: 0 });
        assert.equal(created.context.version, 1);
        const updated = await chord.updateContext(id, { a: 2 }, { expectedVersion: 1 });
        assert.equal(updated.context.version, 2);
        const set = await chord.setContext(id, { a: 3 }, { expectedVersion: 2 });
        assert.equal(set.context.version, 3);
      });
    });

    api.test('expectedVersion other than the stored version throws VersionConflictError and writes nothing', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        await chord.setContext(id, { a: 2 });
        for (const [write, expected] of [
          [() => chord.setContext(id, { a: 9 }, { expectedVersion: 1 }), 1],
          [() => chord.updateContext(id, { a: 9 }, { expectedVersion: 3 }), 3],
          [() => chord.setContext(id, { a: 9 }, { expectedVersion: 0 }), 0],
          // Even a write that would change nothing must not pass a wrong expectation silently.
          [() => chord.setContext(id, { a: 2 }, { expectedVersion: 1 }), 1],
        ] as const) {
          await assert.rejects(write(), (error: unknown) => {
            assert.ok(error instanceof VersionConflictError);
            assert.equal(error.expectedVersion, expected);
            assert.equal(error.actualVersion, 2);
            return true;
          });
        }
        const stored = await chord.getContext(id);
        assert.deepEqual(stored?.context, { a: 2 });
        assert.equal(stored?.version, 2);
        assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2]);
        const missing = freshId();
        await assert.rejects(chord.setContext(missing, { a: 1 }, { expectedVersion: 1 }), VersionConflictError);
        assert.equal(await chord.getContext(missing), null);
      });
    });

    api.test('deleteContext removes the context and all its deltas and says whether it existed', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        const other = freshId();
        await chord.setContext(id, { a: 1 });
        await chord.setContext(id, { a: 2 });
        await chord.setContext(other, { keep: true });
        assert.equal(await chord.deleteContext(id), true);
        assert.equal(await chord.getContext(id), null);
        assert.deepEqual(await storedDeltaVersions(backend, id), []);
        assert.equal(await chord.deleteContext(id), false);
        assert.deepEqual((await chord.getContext(other))?.context, { keep: true });
        assert.deepEqual(await storedDeltaVersions(backend, other), [1]);
        const again = await chord.setContext(id, { b: 1 });
        assert.equal(again.context.version, 1, 'a deleted context starts over at version 1');
      });
    });

    api.test('bad input throws ValidationError naming the argument, and writes nothing', async () => {
      await withEngine(harness, {}, async ({ chord, backend }) => {
        const id = freshId();
        const cases: Array<[() => Promise<unknown>, string]> = [
          [() => chord.setContext('', { a: 1 }), 'contextId'],
          [() => chord.setContext(42 as unknown as string, { a: 1 }), 'contextId'],
          [() => chord.setContext(id, [] as unknown as JsonObject), 'context'],
          [() => chord.setContext(id, null as unknown as JsonObject), 'context'],
          [() => chord.setContext(id, { a: undefined } as unknown as JsonObject), 'context.a'],
          [() => chord.setContext(id, { d: new Date() } as unknown as JsonObject), 'context.d'],
          [() => chord.setContext(id, { n: Number.NaN }), 'context.n'],
          [() => chord.setContext(id, { a: 1 }, { expectedVersion: -1 }), 'options.expectedVersion'],
          [() => chord.setContext(id, { a: 1 }, { expectedVersion: 1.5 }), 'options.expectedVersion'],
          [() => chord.setContext(id, { a: 1 }, { expectdVersion: 1 } as never), 'options.expectdVersion'],
          [() => chord.updateContext(id, 'x' as unknown as JsonObject), 'changes'],
          [() => chord.getContext(''), 'contextId'],
          [() => chord.deleteContext(''), 'contextId'],
        ];
        for (const [call, argument] of cases) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof ValidationError, `expected ValidationError for ${argument}, got ${String(error)}`);
            assert.equal(error.argument, argument);
            return true;
          });
        }
        await chord.setContext(id, { a: 1 });
        await assert.rejects(chord.updateContext(id, { f: (() => 1) as unknown as JsonObject }), ValidationError);
        await assert.rejects(chord.updateContext(id, { b: { c: Symbol('s') } } as unknown as JsonObject), ValidationError);
        assert.deepEqual((await chord.getContext(id))?.context, { a: 1 });
        assert.deepEqual(await storedDeltaVersions(backend, id), [1]);
      });
    });

    api.test('a backend without writeVersion still writes versions and deltas (non-atomic fallback)', async () => {
      await withEngine(harness, { wrap: (b) => seedOnly(b) }, async ({ chord, backend }) => {
        assert.equal(hasAtomicVersionWriter(chord.backend), false);
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        const second = await chord.updateContext(id, { b: { c: 2 } });
        assert.equal(second.context.version, 2);
        assert.ok(second.delta !== null);
        assert.deepEqual(applyDelta({ a: 1 }, second.delta.delta), { a: 1, b: { c: 2 } });
        assert.equal((await chord.updateContext(id, { a: 1 })).delta, null);
        await assert.rejects(chord.setContext(id, { a: 3 }, { expectedVersion: 1 }), VersionConflictError);
        assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2]);
      });
    });

    api.test('a write that keeps losing the race gives up after maxWriteAttempts with VersionConflictError', async () => {
      let writeCalls = 0;
      const alwaysLoses = (b: ChordBackend): ChordBackend =>
        Object.assign(seedOnly(b), {
          writeVersion: async (contextId: string, _context: JsonObject, _delta: JsonObject, expected: number) => {
            writeCalls++;
            throw new VersionConflictError(contextId, expected, expected + 1);
          },
        });
      await withEngine(harness, { maxWriteAttempts: 3, wrap: alwaysLoses }, async ({ chord, backend }) => {
        const id = freshId();
        await assert.rejects(chord.setContext(id, { a: 1 }), VersionConflictError);
        assert.equal(writeCalls, 3);
        writeCalls = 0;
        // With expectedVersion a lost race is final: no retry.
        await assert.rejects(chord.setContext(id, { a: 1 }, { expectedVersion: 0 }), VersionConflictError);
        assert.equal(writeCalls, 1);
        assert.equal(await backend.getContext(id), null);
      });
    });

    if (suite.atomicWrites) {
      api.test('concurrent writers without expectedVersion all land: no duplicate version, no lost update', async () => {
        await withEngine(harness, {}, async ({ chord, backend }) => {
          assert.ok(hasAtomicVersionWriter(backend), 'this test needs a backend with writeVersion');
          const id = freshId();
          await chord.setContext(id, { counters: {} });
          const writers = 8;
          const perWriter = 5;
          // allSettled, so that no writer is still running when the test ends, whatever happens.
          const outcomes = await Promise.allSettled(
            Array.from({ length: writers }, async (_, w) => {
              for (let i = 1; i <= perWriter; i++) {
                await chord.updateContext(id, { counters: { [`w${w}`]: i } });
              }
            }),
          );
          for (const outcome of outcomes) {
            if (outcome.status === 'rejected') throw outcome.reason;
          }
          const stored = await chord.getContext(id);
          assert.equal(stored?.version, 1 + writers * perWriter);
          const expected = Object.fromEntries(Array.from({ length: writers }, (_, w) => [`w${w}`, perWriter]));
          assert.deepEqual(stored?.context, { counters: expected });
          const versions = await storedDeltaVersions(backend, id);
          assert.deepEqual(versions, Array.from({ length: 1 + writers * perWriter }, (_, i) => i + 1));
        });
      });

      api.test('two writers with the same expectedVersion: exactly one wins, the other gets VersionConflictError', async () => {
        await withEngine(harness, {}, async ({ chord, backend }) => {
          const id = freshId();
          await chord.setContext(id, { a: 0 });
          const results = await Promise.allSettled(
            Array.from({ length: 4 }, (_, i) => chord.updateContext(id, { a: i + 1 }, { expectedVersion: 1 })),
          );
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          assert.equal(won.length, 1);
          for (const r of lost) assert.ok(r.reason instanceof VersionConflictError, String(r.reason));
          const stored = await chord.getContext(id);
          assert.equal(stored?.version, 2);
          assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2]);
        });
      });
    }
  });
}
