import { strict as assert } from 'node:assert';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, randomId, versionsOf, writeDeltas } from './support.js';

/** Per-context pruning: `deleteDeltasByTime` and `deleteDeltasExceedingThreshold`. */
export function registerPruningTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('pruning', () => {
    test('deleteDeltasByTime removes deltas strictly older than the time; one stamped exactly at it stays', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 100], [2, 200], [3, 300]]);
      assert.equal(await backend.deleteDeltasByTime(id, 200), 1);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [2, 3]);
      assert.equal(await backend.deleteDeltasByTime(id, 200), 0, 'nothing older is left');
    });

    test('deleteDeltasByTime judges each delta by its own insertedAt, not by its version', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 300], [2, 100], [3, 200], [4, 400]]);
      assert.equal(await backend.deleteDeltasByTime(id, 250), 2);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [1, 4]);
    });

    test('deleteDeltasByTime can remove every delta of the id', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 100], [2, 200]]);
      assert.equal(await backend.deleteDeltasByTime(id, 201), 2);
      assert.deepEqual(await backend.getDeltas(id, 0), []);
    });

    test('deleteDeltasByTime touches only the given context and leaves contexts alone', async (backend, clock) => {
      const id = randomId();
      const other = randomId('other');
      clock.set(50);
      const context = await backend.setContext(id, { a: 1 }, 2);
      await writeDeltas(backend, clock, id, [[1, 100], [2, 200]]);
      await writeDeltas(backend, clock, other, [[1, 100], [2, 200]]);
      assert.equal(await backend.deleteDeltasByTime(id, 1_000), 2);
      assert.deepEqual(versionsOf(await backend.getDeltas(other, 0)), [1, 2]);
      assert.deepEqual(await backend.getContext(id), context);
    });

    test('deleteDeltasByTime on an id with no deltas returns 0', async (backend) => {
      assert.equal(await backend.deleteDeltasByTime(randomId(), 1_000_000), 0);
    });

    test('deleteDeltasExceedingThreshold keeps the newest N by version and returns how many it removed', async (backend, clock) => {
      const id = randomId();
      // Written out of order, with the newest versions stamped earliest: "newest" means by version.
      await writeDeltas(backend, clock, id, [[5, 10], [3, 20], [1, 30], [4, 40], [2, 50]]);
      assert.equal(await backend.deleteDeltasExceedingThreshold(id, 2), 3);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [4, 5]);
    });

    test('deleteDeltasExceedingThreshold with 0 keeps none', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 1], [2, 2], [3, 3]]);
      assert.equal(await backend.deleteDeltasExceedingThreshold(id, 0), 3);
      assert.deepEqual(await backend.getDeltas(id, 0), []);
    });

    test('deleteDeltasExceedingThreshold deletes none when N is at least the number of deltas', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 1], [2, 2], [3, 3]]);
      const before = await backend.getDeltas(id, 0);
      assert.equal(await backend.deleteDeltasExceedingThreshold(id, 3), 0);
      assert.equal(await backend.deleteDeltasExceedingThreshold(id, 100), 0);
      assert.deepEqual(await backend.getDeltas(id, 0), before);
    });

    test('deleteDeltasExceedingThreshold touches only the given context', async (backend, clock) => {
      const id = randomId();
      const other = randomId('other');
      await writeDeltas(backend, clock, id, [[1, 1], [2, 2], [3, 3]]);
      await writeDeltas(backend, clock, other, [[1, 1], [2, 2], [3, 3]]);
      assert.equal(await backend.deleteDeltasExceedingThreshold(id, 1), 2);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [3]);
      assert.deepEqual(versionsOf(await backend.getDeltas(other, 0)), [1, 2, 3]);
    });

    test('deleteDeltasExceedingThreshold on an id with no deltas returns 0', async (backend) => {
      assert.equal(await backend.deleteDeltasExceedingThreshold(randomId(), 0), 0);
    });
  });
}
