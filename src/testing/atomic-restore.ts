import { strict as assert } from 'node:assert';
import { VersionConflictError } from '../errors.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, callUnchecked, randomId, refusesWithoutWriting, requireAtomicRestorer, storedState, versionsOf, withoutEpoch } from './support.js';
import { BAD_CONTEXT_IDS, BAD_VERSIONS, NON_JSON_OBJECTS } from './validation.js';

/** `restoreVersion` (the `AtomicRestorer` capability): a restore that never moves a context back. */
export function registerAtomicRestoreTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('atomic restore', () => {
    test('restoreVersion stores the context at a higher version and deletes every delta of that context only', async (raw, clock) => {
      const backend = requireAtomicRestorer(raw);
      const id = randomId();
      const other = randomId('other');
      await backend.setContext(id, { a: 1 }, 3);
      for (const v of [1, 2, 3, 7]) await backend.setDelta(id, { v }, v);
      await backend.setDelta(other, { v: 1 }, 1);
      clock.set(9_000);
      const record = await backend.restoreVersion(id, { restored: true }, 5);
      assert.deepEqual(withoutEpoch(record), { contextId: id, context: { restored: true }, version: 5, insertedAt: 9_000 });
      assert.deepEqual(await backend.getContext(id), record);
      assert.deepEqual(await backend.getDeltas(id, 0), []);
      assert.deepEqual(versionsOf(await backend.getDeltas(other, 0)), [1]);
    });

    test('restoreVersion of a context not stored creates it', async (raw) => {
      const backend = requireAtomicRestorer(raw);
      const id = randomId();
      const record = await backend.restoreVersion(id, { a: 1 }, 4);
      assert.deepEqual(await backend.getContext(id), record);
    });

    test('restoreVersion at or below the stored version throws VersionConflictError with it and changes nothing', async (raw) => {
      const backend = requireAtomicRestorer(raw);
      const id = randomId();
      await backend.setContext(id, { a: 1 }, 5);
      await backend.setDelta(id, { d: 5 }, 5);
      const before = await storedState(backend);
      for (const version of [5, 4, 1]) {
        await assert.rejects(backend.restoreVersion(id, { lost: true }, version), (error: unknown) => {
          assert.ok(error instanceof VersionConflictError, `at ${version}: ${String(error)}`);
          assert.equal(error.expectedVersion, version);
          assert.equal(error.actualVersion, 5);
          return true;
        });
      }
      assert.deepEqual(await storedState(backend), before);
    });

    test('concurrent restoreVersion calls: the highest version wins and none moves the context back', async (raw) => {
      const backend = requireAtomicRestorer(raw);
      const id = randomId();
      const versions = [3, 9, 5, 7, 2, 8];
      const results = await Promise.allSettled(versions.map((v) => backend.restoreVersion(id, { v }, v)));
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(r.reason instanceof VersionConflictError, `a loser got ${String(r.reason)}`);
      }
      assert.equal(results[1]?.status, 'fulfilled', 'the highest version is always written');
      assert.deepEqual((await backend.getContext(id))?.context, { v: 9 });
      assert.equal((await backend.getContext(id))?.version, 9);
    });

    test('restoreVersion refuses bad arguments with ValidationError, writing nothing', async (raw) => {
      const backend = requireAtomicRestorer(raw);
      const id = randomId();
      await backend.setContext(id, { a: 1 }, 1);
      const call = (...args: unknown[]) => () => callUnchecked(backend, 'restoreVersion', ...args);
      for (const [label, bad] of BAD_CONTEXT_IDS) {
        await refusesWithoutWriting(backend, call(bad, { a: 2 }, 2), 'contextId', `contextId ${label}`);
      }
      for (const c of NON_JSON_OBJECTS) {
        await refusesWithoutWriting(backend, call(id, c.make(), 2), `context${c.path}`, `context ${c.label}`);
      }
      for (const [label, bad] of BAD_VERSIONS) {
        await refusesWithoutWriting(backend, call(id, { a: 2 }, bad), 'version', `version ${label}`);
      }
    });
  });
}
