import * as assert from 'node:assert/strict';
import { applyDelta } from '../delta/index.js';
import type { ProvidedContext } from '../engine/chord.js';
import { NotFoundError, ValidationError, VersionConflictError } from '../errors.js';
import type { ChordBackend } from '../backend.js';
import { Chord } from '../engine/chord.js';
import type { ContextRecord } from '../types.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { freshId, resolveEngineSuiteOptions, seedOnly, storedDeltaVersions, withEngine } from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';
import { requireAtomicRestorer } from './support.js';

/** exportContext and restoreContext: callbacks, missing contexts, and restore never going back. */
export function registerEngineRestoreTests(api: SuiteApi, harness: BackendHarness, options: EngineSuiteOptions = {}): void {
  const suite = resolveEngineSuiteOptions(options);
  api.describe('engine export and restore', () => {
    api.test('exportContext hands the stored record to the callback and returns it', async () => {
      const exported: ContextRecord[] = [];
      await withEngine(harness, { exportContext: async (record) => void exported.push(record) }, async ({ chord }) => {
        const id = freshId();
        const { context } = await chord.setContext(id, { a: { b: 1 } });
        const returned = await chord.exportContext(id);
        assert.deepEqual(returned, context);
        assert.deepEqual(exported, [context]);
        await assert.rejects(chord.exportContext(freshId()), NotFoundError);
        assert.equal(exported.length, 1);
      });
    });

    api.test('exportContext without a callback throws ValidationError naming config.exportContext', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        await assert.rejects(chord.exportContext(id), (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.equal(error.argument, 'config.exportContext');
          return true;
        });
      });
    });

    api.test('restoreContext stores a higher provided version, clears the old deltas, and sync sends it whole', async () => {
      const provided: ProvidedContext = { context: { restored: true, nested: { x: [1, 2] } }, version: 10 };
      await withEngine(harness, { contextProvider: async () => provided }, async ({ chord, backend }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        await chord.setContext(id, { a: 2 });
        const record = await chord.restoreContext(id);
        assert.equal(record.version, 10);
        assert.deepEqual(record.context, provided.context);
        assert.deepEqual(await chord.getContext(id), record);
        assert.deepEqual(await storedDeltaVersions(backend, id), []);
        for (const v of [0, 1, 2, 5]) {
          const result = await chord.syncContext(id, v);
          assert.ok(result.kind === 'full', `from ${v}: expected full, got ${result.kind}`);
          assert.equal(result.context.version, 10);
        }
        const next = await chord.updateContext(id, { a: 3 });
        assert.equal(next.context.version, 11);
        const sync = await chord.syncContext(id, 10);
        assert.ok(sync.kind === 'delta');
        assert.deepEqual(applyDelta(provided.context, sync.delta), next.context.context);
      });
    });

    if (suite.atomicRestore) {
      api.test('a write that lands between restoreContext reading and writing is never overwritten', async () => {
        // A backend whose getContext answers with an older record, as when writers land between
        // the engine's read and its write; restoreVersion is the backend's own.
        let stale: ContextRecord | null = null;
        const lagging = (b: ChordBackend): ChordBackend => {
          const restorer = requireAtomicRestorer(b);
          return Object.assign(seedOnly(b, { getContext: async (contextId) => stale ?? b.getContext(contextId) }), {
            restoreVersion: restorer.restoreVersion.bind(restorer),
          });
        };
        const provider = async (): Promise<ProvidedContext> => ({ context: { restored: true }, version: 3 });
        await withEngine(harness, { wrap: lagging, contextProvider: provider }, async ({ chord, backend, clock }) => {
          const id = freshId();
          const writer = new Chord({ backend, clock });
          for (const n of [1, 2, 3, 4]) await writer.setContext(id, { n });
          stale = { contextId: id, context: { n: 2 }, version: 2, insertedAt: clock() };
          await assert.rejects(chord.restoreContext(id), (error: unknown) => {
            assert.ok(error instanceof VersionConflictError, String(error));
            assert.equal(error.actualVersion, 4);
            return true;
          });
          stale = null;
          assert.deepEqual((await chord.getContext(id))?.context, { n: 4 });
          assert.equal((await chord.getContext(id))?.version, 4);
          assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2, 3, 4]);
        });
      });
    }

    api.test('restoreContext of a context not stored creates it at the provided version', async () => {
      await withEngine(harness, { contextProvider: async () => ({ context: { a: 1 }, version: 3 }) }, async ({ chord }) => {
        const id = freshId();
        const record = await chord.restoreContext(id);
        assert.equal(record.version, 3);
        assert.deepEqual((await chord.getContext(id))?.context, { a: 1 });
      });
    });

    api.test('restoreContext refuses to move a context to a lower version and changes nothing', async () => {
      await withEngine(harness, { contextProvider: async () => ({ context: { old: true }, version: 1 }) }, async ({ chord, backend }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        await chord.setContext(id, { a: 2 });
        await assert.rejects(chord.restoreContext(id), (error: unknown) => {
          assert.ok(error instanceof VersionConflictError);
          assert.equal(error.actualVersion, 2);
          return true;
        });
        const stored = await chord.getContext(id);
        assert.equal(stored?.version, 2);
        assert.deepEqual(stored?.context, { a: 2 });
        assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2]);
      });
    });

    api.test('restoreContext at the stored version: the same context is a no-op, a different one a conflict', async () => {
      let provided: ProvidedContext = { context: { a: 2 }, version: 2 };
      await withEngine(harness, { contextProvider: async () => provided }, async ({ chord, backend }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        const current = (await chord.setContext(id, { a: 2 })).context;
        assert.deepEqual(await chord.restoreContext(id), current);
        assert.deepEqual(await storedDeltaVersions(backend, id), [1, 2]);
        provided = { context: { a: 'other' }, version: 2 };
        await assert.rejects(chord.restoreContext(id), VersionConflictError);
        assert.deepEqual((await chord.getContext(id))?.context, { a: 2 });
      });
    });

    api.test('restoreContext: provider null → NotFoundError; no provider or a bad answer → ValidationError', async () => {
      await withEngine(harness, { contextProvider: async () => null }, async ({ chord }) => {
        await assert.rejects(chord.restoreContext(freshId()), NotFoundError);
      });
      await withEngine(harness, {}, async ({ chord }) => {
        await assert.rejects(chord.restoreContext(freshId()), (error: unknown) => {
          assert.ok(error instanceof ValidationError);
          assert.equal(error.argument, 'config.contextProvider');
          return true;
        });
      });
      const bad: Array<[unknown, string]> = [
        [{ context: { a: 1 }, version: -1 }, 'contextProvider result.version'],
        [{ context: { a: 1 }, version: 0 }, 'contextProvider result.version'],
        [{ context: { a: 1 } }, 'contextProvider result.version'],
        [{ context: [1], version: 1 }, 'contextProvider result.context'],
        [{ context: { d: new Date(0) }, version: 1 }, 'contextProvider result.context.d'],
        ['nope', 'contextProvider result'],
      ];
      let answer: unknown = null;
      await withEngine(harness, { contextProvider: async () => answer as ProvidedContext }, async ({ chord }) => {
        for (const [badAnswer, argument] of bad) {
          answer = badAnswer;
          const id = freshId();
          await assert.rejects(chord.restoreContext(id), (error: unknown) => {
            assert.ok(error instanceof ValidationError, `${JSON.stringify(badAnswer)}: ${String(error)}`);
            assert.equal(error.argument, argument);
            return true;
          });
          assert.equal(await chord.getContext(id), null);
        }
      });
    });
  });
}
