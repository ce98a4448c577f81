import { strict as assert } from 'node:assert';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, randomId, requireAtomicRestorer, requireAtomicWrites, requireBulkCleanup } from './support.js';

function epochOf(record: { readonly epoch?: string } | null): string {
  const epoch = record?.epoch;
  assert.equal(typeof epoch, 'string', 'a stored context must carry an epoch');
  assert.ok((epoch as string).length > 0, 'an epoch is a non-empty string');
  return epoch as string;
}

/**
 * Epochs: each life of a context id has its own, new when the id comes into existence and kept by
 * every later write, so a version of one life is never taken for the same version of another.
 * Capability tests run only where the backend has the capability.
 */
export function registerEpochTests(api: SuiteApi, harness: BackendHarness, capabilities: { atomicWrites: boolean; atomicRestore: boolean; bulkCleanup: boolean }): void {
  const test = backendTest(api, harness);
  api.describe('epochs', () => {
    test('setContext gives a new id an epoch that getContext and listContexts return and later writes keep', async (backend) => {
      const id = randomId();
      const epoch = epochOf(await backend.setContext(id, { a: 1 }, 1));
      assert.equal(epochOf(await backend.getContext(id)), epoch);
      assert.equal(epochOf((await backend.listContexts({ contextId: id }))[0] ?? null), epoch);
      assert.equal(epochOf(await backend.setContext(id, { a: 2 }, 2)), epoch);
      assert.equal(epochOf(await backend.getContext(id)), epoch);
    });

    test('a context deleted and written again has a new epoch; other ids have their own', async (backend) => {
      const id = randomId();
      const first = epochOf(await backend.setContext(id, { a: 1 }, 1));
      const other = epochOf(await backend.setContext(randomId(), { a: 1 }, 1));
      assert.notEqual(other, first);
      await backend.deleteContext(id);
      const second = epochOf(await backend.setContext(id, { a: 1 }, 1));
      assert.notEqual(second, first);
    });

    if (capabilities.atomicWrites) {
      test('writeVersion from 0 creates a new epoch, later versions keep it, and after a delete it is new again', async (raw) => {
        const backend = requireAtomicWrites(raw);
        const id = randomId();
        const first = await backend.writeVersion(id, { v: 1 }, { d: 1 }, 0);
        const epoch = epochOf(first.context);
        assert.equal(epochOf((await backend.writeVersion(id, { v: 2 }, { d: 2 }, 1)).context), epoch);
        assert.equal(epochOf(await backend.getContext(id)), epoch);
        await backend.deleteContext(id);
        assert.notEqual(epochOf((await backend.writeVersion(id, { v: 1 }, { d: 1 }, 0)).context), epoch);
      });
    }

    if (capabilities.atomicRestore) {
      test('restoreVersion keeps the epoch of a stored context, gives a missing one a new epoch, and honours expectedVersion', async (raw) => {
        const backend = requireAtomicRestorer(raw);
        const id = randomId();
        const epoch = epochOf(await backend.setContext(id, { a: 1 }, 3));
        assert.equal(epochOf(await backend.restoreVersion(id, { r: 1 }, 5)), epoch);
        await assert.rejects(backend.restoreVersion(id, { r: 2 }, 9, 4), { code: 'conflict' }, 'stored version is 5, not 4');
        assert.deepEqual((await backend.getContext(id))?.context, { r: 1 });
        assert.equal(epochOf(await backend.restoreVersion(id, { r: 3 }, 9, 5)), epoch);
        const missing = randomId();
        await assert.rejects(backend.restoreVersion(missing, { r: 1 }, 2, 1), { code: 'conflict' }, 'nothing stored, not version 1');
        assert.equal(await backend.getContext(missing), null);
        assert.notEqual(epochOf(await backend.restoreVersion(missing, { r: 1 }, 2, 0)), epoch);
      });
    }

    if (capabilities.bulkCleanup) {
      test('a context removed by deleteIdleContexts comes back with a new epoch', async (raw, clock) => {
        const backend = requireBulkCleanup(raw);
        const id = randomId();
        clock.set(100);
        const epoch = epochOf(await backend.setContext(id, { a: 1 }, 1));
        await backend.deleteIdleContexts(200, 1000);
        assert.equal(await backend.getContext(id), null);
        clock.set(300);
        assert.notEqual(epochOf(await backend.setContext(id, { a: 1 }, 1)), epoch);
      });
    }
  });
}
