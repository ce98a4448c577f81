import { strict as assert } from 'node:assert';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, randomId, withoutEpoch } from './support.js';

/** Context storage: `setContext`, `getContext`, `deleteContext`. */
export function registerContextTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('contexts', () => {
    test('getContext returns null for an id that was never written', async (backend) => {
      assert.equal(await backend.getContext(randomId()), null);
    });

    test('setContext returns the stored record, stamped with the clock time', async (backend, clock) => {
      const id = randomId();
      clock.set(5_000);
      const record = await backend.setContext(id, { name: 'Ada', tags: ['x'] }, 1);
      assert.deepEqual(withoutEpoch(record), { contextId: id, context: { name: 'Ada', tags: ['x'] }, version: 1, insertedAt: 5_000 });
      assert.deepEqual(await backend.getContext(id), record);
    });

    test('setContext replaces the context, version and insertedAt of an existing id (upsert)', async (backend, clock) => {
      const id = randomId();
      clock.set(1_000);
      await backend.setContext(id, { a: 1, b: 2 }, 1);
      clock.set(2_000);
      const record = await backend.setContext(id, { a: 3 }, 2);
      const expected = { contextId: id, context: { a: 3 }, version: 2, insertedAt: 2_000 };
      assert.deepEqual(withoutEpoch(record), expected);
      assert.deepEqual(withoutEpoch(await backend.getContext(id)), expected);
      assert.deepEqual((await backend.listContexts()).map(withoutEpoch), [expected], 'an upsert must not add a second record');
    });

    test('setContext stamps the time of the last write even when the context is unchanged', async (backend, clock) => {
      const id = randomId();
      clock.set(1_000);
      await backend.setContext(id, { a: 1 }, 1);
      clock.set(9_000);
      await backend.setContext(id, { a: 1 }, 1);
      assert.equal((await backend.getContext(id))?.insertedAt, 9_000);
    });

    test('setContext writes no delta', async (backend) => {
      const id = randomId();
      await backend.setContext(id, { a: 1 }, 3);
      assert.deepEqual(await backend.getDeltas(id, 0), []);
      assert.deepEqual(await backend.listDeltas(), []);
    });

    test('contexts of different ids are stored independently', async (backend, clock) => {
      const a = randomId('a');
      const b = randomId('b');
      clock.set(100);
      await backend.setContext(a, { who: 'a' }, 1);
      clock.set(200);
      await backend.setContext(b, { who: 'b' }, 7);
      assert.deepEqual(withoutEpoch(await backend.getContext(a)), { contextId: a, context: { who: 'a' }, version: 1, insertedAt: 100 });
      assert.deepEqual(withoutEpoch(await backend.getContext(b)), { contextId: b, context: { who: 'b' }, version: 7, insertedAt: 200 });
    });

    test('deleteContext returns 1 when it removed the context, then 0', async (backend) => {
      const id = randomId();
      await backend.setContext(id, { a: 1 }, 1);
      assert.equal(await backend.deleteContext(id), 1);
      assert.equal(await backend.getContext(id), null);
      assert.equal(await backend.deleteContext(id), 0);
    });

    test('deleteContext of an id that was never written returns 0', async (backend) => {
      assert.equal(await backend.deleteContext(randomId()), 0);
    });

    test('deleteContext removes only that context', async (backend) => {
      const gone = randomId('gone');
      const kept = randomId('kept');
      await backend.setContext(gone, { a: 1 }, 1);
      const keptRecord = await backend.setContext(kept, { b: 2 }, 1);
      await backend.deleteContext(gone);
      assert.deepEqual(await backend.listContexts(), [keptRecord]);
    });

    test('deleteContext leaves the deltas of that id in place', async (backend) => {
      const id = randomId();
      await backend.setContext(id, { a: 1 }, 2);
      const d1 = await backend.setDelta(id, { step: 1 }, 1);
      const d2 = await backend.setDelta(id, { step: 2 }, 2);
      assert.equal(await backend.deleteContext(id), 1);
      assert.deepEqual(await backend.getDeltas(id, 0), [d1, d2]);
    });

    test('a deleted context can be written again', async (backend, clock) => {
      const id = randomId();
      await backend.setContext(id, { old: true }, 4);
      await backend.deleteContext(id);
      clock.set(3_000);
      await backend.setContext(id, { fresh: true }, 1);
      assert.deepEqual(withoutEpoch(await backend.getContext(id)), { contextId: id, context: { fresh: true }, version: 1, insertedAt: 3_000 });
    });

    test('setContext stores a copy: changing the input object afterwards changes nothing stored', async (backend) => {
      const id = randomId();
      const input = { list: [1, 2], nested: { x: 1 } };
      await backend.setContext(id, input, 1);
      input.list.push(3);
      input.nested.x = 99;
      assert.deepEqual((await backend.getContext(id))?.context, { list: [1, 2], nested: { x: 1 } });
    });

    test('returned context records are copies: changing them changes nothing stored', async (backend) => {
      const id = randomId();
      const written = await backend.setContext(id, { list: [1], nested: { x: 1 } }, 1);
      (written.context.list as number[]).push(2);
      const read = await backend.getContext(id);
      assert.ok(read !== null);
      (read.context.nested as { x: number }).x = 99;
      read.context.added = true;
      assert.deepEqual((await backend.getContext(id))?.context, { list: [1], nested: { x: 1 } });
    });
  });
}
