import { strict as assert } from 'node:assert';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, randomId, versionsOf, writeDeltas } from './support.js';

/** Delta storage: `setDelta`, `getDeltas`, `deleteDeltasForContext`. */
export function registerDeltaTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('deltas', () => {
    test('getDeltas returns [] for an id with no deltas', async (backend) => {
      assert.deepEqual(await backend.getDeltas(randomId(), 0), []);
    });

    test('setDelta returns the stored record, stamped with the clock time', async (backend, clock) => {
      const id = randomId();
      clock.set(7_000);
      const record = await backend.setDelta(id, { change: ['a'] }, 1);
      assert.deepEqual(record, { contextId: id, delta: { change: ['a'] }, version: 1, insertedAt: 7_000 });
      assert.deepEqual(await backend.getDeltas(id, 0), [record]);
    });

    test('getDeltas returns the deltas with version strictly greater than clientVersion, ascending', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[3, 30], [1, 10], [5, 50], [2, 20], [4, 40]]);
      const all = await backend.getDeltas(id, 0);
      assert.deepEqual(versionsOf(all), [1, 2, 3, 4, 5]);
      assert.deepEqual(all[2], { contextId: id, delta: { contextId: id, version: 3 }, version: 3, insertedAt: 30 });
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 2)), [3, 4, 5], 'the delta at clientVersion is not included');
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 4)), [5]);
      assert.deepEqual(await backend.getDeltas(id, 5), []);
      assert.deepEqual(await backend.getDeltas(id, 1_000), []);
    });

    test('getDeltas skips gaps in versions', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[10, 1], [20, 2], [30, 3]]);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 15)), [20, 30]);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [10, 20, 30]);
    });

    test('a delta may be stored for an id that has no context', async (backend) => {
      const id = randomId();
      const record = await backend.setDelta(id, { a: 1 }, 1);
      assert.equal(await backend.getContext(id), null);
      assert.deepEqual(await backend.getDeltas(id, 0), [record]);
    });

    test('setDelta at a version already stored replaces that delta', async (backend, clock) => {
      const id = randomId();
      clock.set(100);
      await backend.setDelta(id, { first: true }, 1);
      clock.set(200);
      const replaced = await backend.setDelta(id, { second: true }, 1);
      assert.deepEqual(replaced, { contextId: id, delta: { second: true }, version: 1, insertedAt: 200 });
      assert.deepEqual(await backend.getDeltas(id, 0), [replaced]);
      assert.deepEqual(await backend.listDeltas(), [replaced]);
    });

    test('getDeltas returns only the deltas of the id asked for', async (backend) => {
      const id = randomId();
      const mine = await backend.setDelta(id, { mine: true }, 2);
      await backend.setDelta(`${id}x`, { other: true }, 2);
      await backend.setDelta(id.slice(0, -1), { other: true }, 3);
      assert.deepEqual(await backend.getDeltas(id, 0), [mine]);
    });

    test('deleteDeltasForContext removes every delta of the id and returns how many, then 0', async (backend, clock) => {
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 1], [2, 2], [3, 3]]);
      assert.equal(await backend.deleteDeltasForContext(id), 3);
      assert.deepEqual(await backend.getDeltas(id, 0), []);
      assert.equal(await backend.deleteDeltasForContext(id), 0);
    });

    test('deleteDeltasForContext of an id with no deltas returns 0', async (backend) => {
      assert.equal(await backend.deleteDeltasForContext(randomId()), 0);
    });

    test('deleteDeltasForContext leaves the context and the deltas of other ids', async (backend, clock) => {
      const id = randomId();
      const other = randomId('other');
      const context = await backend.setContext(id, { a: 1 }, 2);
      await writeDeltas(backend, clock, id, [[1, 1], [2, 2]]);
      await writeDeltas(backend, clock, other, [[1, 1], [2, 2]]);
      const otherDeltas = await backend.getDeltas(other, 0);
      assert.equal(await backend.deleteDeltasForContext(id), 2);
      assert.deepEqual(await backend.getContext(id), context);
      assert.deepEqual(await backend.getDeltas(other, 0), otherDeltas);
    });

    test('deltas can be written again after they were deleted', async (backend) => {
      const id = randomId();
      await backend.setDelta(id, { a: 1 }, 1);
      await backend.deleteDeltasForContext(id);
      const again = await backend.setDelta(id, { b: 2 }, 1);
      assert.deepEqual(await backend.getDeltas(id, 0), [again]);
    });

    test('setDelta stores a copy: changing the input object afterwards changes nothing stored', async (backend) => {
      const id = randomId();
      const input = { list: [1], nested: { x: 1 } };
      await backend.setDelta(id, input, 1);
      input.list.push(2);
      input.nested.x = 99;
      assert.deepEqual((await backend.getDeltas(id, 0))[0]?.delta, { list: [1], nested: { x: 1 } });
    });

    test('returned delta records are copies: changing them changes nothing stored', async (backend) => {
      const id = randomId();
      const written = await backend.setDelta(id, { list: [1], nested: { x: 1 } }, 1);
      (written.delta.list as number[]).push(2);
      const [read] = await backend.getDeltas(id, 0);
      assert.ok(read !== undefined);
      (read.delta.nested as { x: number }).x = 99;
      read.delta.added = true;
      assert.deepEqual((await backend.getDeltas(id, 0))[0]?.delta, { list: [1], nested: { x: 1 } });
    });
  });
}
