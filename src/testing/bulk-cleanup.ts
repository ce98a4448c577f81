import { strict as assert } from 'node:assert';
import { Chord } from '../engine/chord.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import {
  backendTest,
  countingCalls,
  callUnchecked,
  idsOf,
  randomId,
  refusesWithoutWriting,
  requireBulkCleanup,
  seedSomeData,
  versionsOf,
  writeDeltas,
} from './support.js';
import { BAD_COUNTS, BAD_TIMESTAMPS } from './validation.js';

/** The `BulkCleanup` capability: set-based cleanup across all contexts, one bounded batch a call. */
export function registerBulkCleanupTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('bulk cleanup', () => {
    test('the backend offers the bulk cleanup methods, and the engine cleans up through them, not id by id', async (backend, clock) => {
      const { spied, calls } = countingCalls(requireBulkCleanup(backend));
      const chord = new Chord({ backend: spied, clock });
      const id = randomId();
      for (let i = 0; i < 3; i++) await chord.setContext(id, { i });
      clock.advance(10_000);
      const report = await chord.cleanup({ deltaTtl: 5_000, contextTtl: 60_000, deltaThreshold: 1 });
      assert.equal(report.deltasDeleted.total, 3, 'the three expired deltas');
      for (const bulk of ['deleteIdleContexts', 'deleteDeltasOlderThan', 'deleteDeltasBeyondNewest']) {
        assert.ok(calls(bulk) >= 1, `cleanup called ${bulk}`);
      }
      for (const perId of ['listContexts', 'listContextsWithDeltaCounts', 'deleteDeltasByTime', 'deleteDeltasExceedingThreshold', 'deleteContext']) {
        assert.equal(calls(perId), 0, `cleanup called ${perId}, the id-by-id path`);
      }
      assert.equal((await backend.getContext(id))?.version, 3, 'the context, written 10 s ago, is not idle by a 60 s TTL');
    });

    test('deleteIdleContexts deletes contexts last written strictly before the time, with all their deltas', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const [idle, atCut, fresh] = [randomId('idle'), randomId('at-cut'), randomId('fresh')];
      for (const [id, at] of [[idle, 100], [atCut, 200], [fresh, 300]] as const) {
        clock.set(at);
        await backend.setContext(id, { id }, 3);
        await writeDeltas(backend, clock, id, [[1, at], [2, at], [3, at]]);
      }
      assert.deepEqual(await backend.deleteIdleContexts(200, 10), { contexts: 1, deltas: 3 });
      assert.equal(await backend.getContext(idle), null);
      assert.deepEqual(await backend.getDeltas(idle, 0), []);
      assert.deepEqual(new Set(idsOf(await backend.listContexts())), new Set([atCut, fresh]));
      assert.deepEqual(versionsOf(await backend.getDeltas(atCut, 0)), [1, 2, 3]);
      assert.deepEqual(await backend.deleteIdleContexts(200, 10), { contexts: 0, deltas: 0 });
    });

    test('deleteIdleContexts judges a context by its last write', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const id = randomId();
      clock.set(100);
      await backend.setContext(id, { v: 1 }, 1);
      clock.set(300);
      await backend.setContext(id, { v: 2 }, 2);
      assert.deepEqual(await backend.deleteIdleContexts(200, 10), { contexts: 0, deltas: 0 });
      assert.equal((await backend.getContext(id))?.version, 2);
    });

    test('deleteIdleContexts removes at most batchSize contexts a call', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      clock.set(100);
      for (let i = 0; i < 5; i++) {
        const id = randomId(`idle${i}`);
        await backend.setContext(id, { i }, 2);
        await writeDeltas(backend, clock, id, [[1, 100], [2, 100]]);
      }
      const batches = [];
      for (let call = 0; call < 4; call++) batches.push(await backend.deleteIdleContexts(1_000, 2));
      assert.deepEqual(batches, [
        { contexts: 2, deltas: 4 },
        { contexts: 2, deltas: 4 },
        { contexts: 1, deltas: 2 },
        { contexts: 0, deltas: 0 },
      ]);
      assert.deepEqual(await backend.listContexts(), []);
      assert.deepEqual(await backend.listDeltas(), []);
    });

    test('deleteDeltasOlderThan deletes deltas of every context strictly older than the time', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const [a, b] = [randomId('a'), randomId('b')];
      await writeDeltas(backend, clock, a, [[1, 100], [2, 200], [3, 300]]);
      await writeDeltas(backend, clock, b, [[1, 300], [2, 150], [3, 50]]);
      const context = await backend.setContext(a, { a: 1 }, 3);
      assert.equal(await backend.deleteDeltasOlderThan(200, 100), 3);
      assert.deepEqual(versionsOf(await backend.getDeltas(a, 0)), [2, 3], 'a delta stamped exactly at the time stays');
      assert.deepEqual(versionsOf(await backend.getDeltas(b, 0)), [1]);
      assert.deepEqual(await backend.getContext(a), context, 'contexts are left alone');
      assert.equal(await backend.deleteDeltasOlderThan(200, 100), 0);
    });

    test('deleteDeltasOlderThan removes at most batchSize deltas a call', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const [a, b] = [randomId('a'), randomId('b')];
      await writeDeltas(backend, clock, a, [[1, 10], [2, 20], [3, 30]]);
      await writeDeltas(backend, clock, b, [[1, 10], [2, 20], [3, 999]]);
      const removed = [];
      for (let call = 0; call < 4; call++) removed.push(await backend.deleteDeltasOlderThan(100, 2));
      assert.deepEqual(removed, [2, 2, 1, 0]);
      assert.deepEqual((await backend.listDeltas()).map((d) => [d.contextId, d.version]), [[b, 3]]);
    });

    test('deleteDeltasBeyondNewest keeps the newest `keep` deltas (by version) of every context', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const [a, b, c] = [randomId('a'), randomId('b'), randomId('c')];
      await writeDeltas(backend, clock, a, [[5, 1], [1, 2], [4, 3], [2, 4], [3, 5]]);
      await writeDeltas(backend, clock, b, [[1, 1], [2, 2]]);
      await writeDeltas(backend, clock, c, [[10, 1], [20, 2], [30, 3], [40, 4]]);
      assert.equal(await backend.deleteDeltasBeyondNewest(3, 100), 3);
      assert.deepEqual(versionsOf(await backend.getDeltas(a, 0)), [3, 4, 5]);
      assert.deepEqual(versionsOf(await backend.getDeltas(b, 0)), [1, 2]);
      assert.deepEqual(versionsOf(await backend.getDeltas(c, 0)), [20, 30, 40]);
      assert.equal(await backend.deleteDeltasBeyondNewest(3, 100), 0);
    });

    test('deleteDeltasBeyondNewest with keep 0 deletes every delta, at most batchSize a call', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const [a, b] = [randomId('a'), randomId('b')];
      await writeDeltas(backend, clock, a, [[1, 1], [2, 2], [3, 3]]);
      await writeDeltas(backend, clock, b, [[1, 1], [2, 2]]);
      const removed = [];
      for (let call = 0; call < 4; call++) removed.push(await backend.deleteDeltasBeyondNewest(0, 2));
      assert.deepEqual(removed, [2, 2, 1, 0]);
      assert.deepEqual(await backend.listDeltas(), []);
    });

    test('deleteDeltasBeyondNewest in small batches removes only the oldest deltas', async (raw, clock) => {
      const backend = requireBulkCleanup(raw);
      const [a, b] = [randomId('a'), randomId('b')];
      await writeDeltas(backend, clock, a, [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]]);
      await writeDeltas(backend, clock, b, [[1, 1], [2, 2], [3, 3], [4, 4]]);
      let total = 0;
      for (let removed = 1; removed > 0; ) {
        removed = await backend.deleteDeltasBeyondNewest(2, 1);
        assert.ok(removed <= 1, `a call removed ${removed} deltas with batchSize 1`);
        total += removed;
        // Whatever has been removed so far, what remains of each context is a run of its newest.
        for (const [id, newest] of [[a, 5], [b, 4]] as const) {
          const versions = versionsOf(await backend.getDeltas(id, 0));
          assert.ok(versions.length >= 2, `${id} kept fewer than 2`);
          assert.deepEqual(versions, Array.from({ length: versions.length }, (_, i) => newest - versions.length + 1 + i));
        }
      }
      assert.equal(total, 5);
      assert.deepEqual(versionsOf(await backend.getDeltas(a, 0)), [4, 5]);
      assert.deepEqual(versionsOf(await backend.getDeltas(b, 0)), [3, 4]);
    });

    test('bulk cleanup refuses bad arguments (batchSize must be ≥ 1) with ValidationError, deleting nothing', async (raw) => {
      const backend = requireBulkCleanup(raw);
      await seedSomeData(backend);
      const badBatchSizes = [...BAD_COUNTS, ['zero', 0] as const];
      const future = Number.MAX_SAFE_INTEGER;
      for (const [label, size] of badBatchSizes) {
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteIdleContexts', future, size), 'batchSize', `deleteIdleContexts batchSize ${label}`);
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteDeltasOlderThan', future, size), 'batchSize', `deleteDeltasOlderThan batchSize ${label}`);
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteDeltasBeyondNewest', 0, size), 'batchSize', `deleteDeltasBeyondNewest batchSize ${label}`);
      }
      for (const [label, time] of BAD_TIMESTAMPS) {
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteIdleContexts', time, 10), 'olderThanTime', `deleteIdleContexts olderThanTime ${label}`);
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteDeltasOlderThan', time, 10), 'olderThanTime', `deleteDeltasOlderThan olderThanTime ${label}`);
      }
      for (const [label, keep] of BAD_COUNTS) {
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteDeltasBeyondNewest', keep, 10), 'keep', `deleteDeltasBeyondNewest keep ${label}`);
      }
    });
  });
}
