import { strict as assert } from 'node:assert';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, callUnchecked, randomId, rejectsWithValidation, requireSyncReader, versionsOf, writeDeltas } from './support.js';
import { BAD_CONTEXT_IDS, BAD_VERSIONS } from './validation.js';

/** `readForSync` (the `SyncReader` capability): a context and the deltas a client needs, in one call. */
export function registerSyncReadTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('sync read', () => {
    test('readForSync of a missing context is null', async (raw) => {
      const backend = requireSyncReader(raw);
      assert.equal(await backend.readForSync(randomId(), 0, 100), null);
    });

    test('readForSync returns the context and, ascending, exactly the deltas getDeltas has after the client version', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await writeDeltas(backend, clock, id, [[3, 30], [1, 10], [5, 50], [2, 20], [4, 40]]);
      clock.set(60);
      const context = await backend.setContext(id, { at: 5 }, 5);
      for (const client of [0, 1, 2, 3, 4]) {
        const read = await backend.readForSync(id, client, 100);
        assert.deepEqual(read, { context, deltas: await backend.getDeltas(id, client) }, `from ${client}`);
      }
      const read = await backend.readForSync(id, 2, 100);
      assert.deepEqual(versionsOf(read?.deltas ?? []), [3, 4, 5]);
      assert.deepEqual(read?.deltas[0], { contextId: id, delta: { contextId: id, version: 3 }, version: 3, insertedAt: 30 });
    });

    test('readForSync leaves out deltas above the context version and pruned ones', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]);
      await backend.setContext(id, { at: 4 }, 4);
      assert.deepEqual(versionsOf((await backend.readForSync(id, 0, 100))?.deltas ?? []), [1, 2, 3, 4]);
      await backend.deleteDeltasByTime(id, 25);
      assert.deepEqual(versionsOf((await backend.readForSync(id, 0, 100))?.deltas ?? []), [3, 4]);
    });

    test('readForSync reads no deltas when the client is current, ahead, or more than maxBehind behind', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 10], [2, 20], [3, 30], [4, 40]]);
      const context = await backend.setContext(id, { at: 4 }, 4);
      for (const [client, maxBehind] of [[4, 100], [7, 100], [0, 3], [1, 2], [3, 0]] as const) {
        assert.deepEqual(await backend.readForSync(id, client, maxBehind), { context, deltas: [] }, `from ${client}, maxBehind ${maxBehind}`);
      }
      assert.deepEqual(versionsOf((await backend.readForSync(id, 0, 4))?.deltas ?? []), [1, 2, 3, 4], 'exactly maxBehind behind');
    });

    test('readForSync refuses bad arguments with ValidationError naming them', async (raw) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await backend.setContext(id, { a: 1 }, 1);
      for (const [label, bad] of BAD_CONTEXT_IDS) {
        await rejectsWithValidation(() => callUnchecked(backend, 'readForSync', bad, 0, 10), 'contextId', `contextId ${label}`);
      }
      for (const [label, bad] of BAD_VERSIONS) {
        await rejectsWithValidation(() => callUnchecked(backend, 'readForSync', id, bad, 10), 'clientVersion', `clientVersion ${label}`);
        await rejectsWithValidation(() => callUnchecked(backend, 'readForSync', id, 0, bad), 'maxBehind', `maxBehind ${label}`);
      }
    });
  });
}
