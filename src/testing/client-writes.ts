// The writes section of the live conformance suite: writes with a write id (what the sync route
// makes of a client's write) are applied at most once, across engines on the same storage.
import * as assert from 'node:assert/strict';
import { hasBulkCleanup, hasWriteIdRecorder } from '../backend.js';
import type { ChordBackend, WriteIdRecorder } from '../backend.js';
import { Chord } from '../engine/chord.js';
import { unset } from '../delta/index.js';
import { freshId, withEngine } from './engine-support.js';
import type { EngineFixture } from './engine-support.js';
import type { BackendHarness, SuiteApi } from './harness.js';

function recorder(backend: ChordBackend): ChordBackend & WriteIdRecorder {
  assert.ok(hasWriteIdRecorder(backend), 'the backend has no getWriteReceipt/writeVersionOnce (WriteIdRecorder)');
  return backend;
}

/** Registers the writes tests (`describe('live: writes')`); each test gets a fresh backend. */
export function registerWriteIdTests(api: SuiteApi, harness: BackendHarness, timeoutMs: number): void {
  const test = (name: string, body: (fixture: EngineFixture & { receipts: WriteIdRecorder }) => Promise<void>): void =>
    api.test(name, () => withEngine(harness, {}, async (fixture) => body({ ...fixture, receipts: recorder(fixture.backend) })), timeoutMs);

  api.describe('live: writes', () => {
    test('a write id is applied once: its retry, after another write on the same key, is answered from the receipt and not applied', async ({ chord, receipts }) => {
      const id = freshId('writes');
      await chord.setContext(id, { n: 0, other: 'x' });
      const first = await chord.updateContext(id, { n: 1, other: unset }, { writeId: { clientId: 'c1', writeId: 1 } });
      assert.equal(first.context.version, 2);
      assert.equal(first.duplicate, undefined);
      await new Chord({ backend: chord.backend }).setContext(id, { n: 5 });
      const retry = await chord.updateContext(id, { n: 1, other: unset }, { writeId: { clientId: 'c1', writeId: 1 } });
      assert.deepEqual(retry.duplicate, { writeId: 1, version: 2, epoch: first.context.epoch });
      assert.equal(retry.delta, null);
      assert.deepEqual((await chord.getContext(id))?.context, { n: 5 });
      assert.equal((await chord.getContext(id))?.version, 3);
      // A lower id is a duplicate too; a higher one (ids may skip: refused writes use none) applies.
      assert.ok((await chord.setContext(id, { n: 0 }, { writeId: { clientId: 'c1', writeId: 1 } })).duplicate !== undefined);
      const later = await chord.updateContext(id, { n: 7 }, { writeId: { clientId: 'c1', writeId: 4 } });
      assert.equal(later.context.version, 4);
      assert.deepEqual(await receipts.getWriteReceipt(id, 'c1'), { writeId: 4, version: 4, epoch: first.context.epoch });
      // Each client's ids are its own.
      assert.equal((await chord.updateContext(id, { m: 1 }, { writeId: { clientId: 'c2', writeId: 1 } })).context.version, 5);
    });

    test('a retry with a stale expectedVersion is still a duplicate, not a conflict', async ({ chord }) => {
      const id = freshId('writes');
      await chord.setContext(id, { n: 0 });
      const write = { expectedVersion: 1, writeId: { clientId: 'c', writeId: 1 } };
      await chord.updateContext(id, { n: 1 }, write);
      const retry = await chord.updateContext(id, { n: 1 }, write);
      assert.equal(retry.duplicate?.version, 2);
    });

    test('the same write sent at once through several engines on the same storage is applied exactly once', async ({ chord, backend }) => {
      const id = freshId('writes');
      await chord.setContext(id, { n: 0 });
      const engines = [chord, ...Array.from({ length: 5 }, () => new Chord({ backend }))];
      // A counter: applied twice, it would read 2.
      const results = await Promise.all(
        engines.map((engine) =>
          engine.updateContext(id, { n: 1, [`by${engines.indexOf(engine)}`]: true }, { writeId: { clientId: 'c', writeId: 1 } }),
        ),
      );
      const applied = results.filter((r) => r.duplicate === undefined);
      assert.equal(applied.length, 1, `applied ${applied.length} times`);
      for (const r of results) if (r.duplicate !== undefined) assert.equal(r.duplicate.version, 2);
      assert.equal((await chord.getContext(id))?.version, 2);
      // The same race on a context that does not exist yet (the create path).
      const created = freshId('writes');
      const sets = await Promise.all(engines.map((engine, i) => engine.setContext(created, { by: i }, { writeId: { clientId: 'c', writeId: 1 } })));
      assert.equal(sets.filter((r) => r.duplicate === undefined).length, 1);
      assert.equal((await chord.getContext(created))?.version, 1);
    });

    test('a write that changes nothing records its write id: its retry after another write is not applied', async ({ chord, receipts }) => {
      const id = freshId('writes');
      const { context } = await chord.setContext(id, { n: 1 });
      const noop = await chord.setContext(id, { n: 1 }, { writeId: { clientId: 'c', writeId: 1 } });
      assert.equal(noop.delta, null);
      assert.equal(noop.duplicate, undefined);
      assert.deepEqual(await receipts.getWriteReceipt(id, 'c'), { writeId: 1, version: 1, epoch: context.epoch });
      await chord.setContext(id, { n: 2 });
      const retry = await chord.setContext(id, { n: 1 }, { writeId: { clientId: 'c', writeId: 1 } });
      assert.equal(retry.duplicate?.version, 1);
      assert.deepEqual((await chord.getContext(id))?.context, { n: 2 });
    });

    test('a write for an epoch that is not current is a conflict and writes nothing, nor its receipt', async ({ chord, receipts }) => {
      const id = freshId('writes');
      await chord.setContext(id, { n: 1 });
      await assert.rejects(chord.setContext(id, { n: 2 }, { epoch: 'not-the-epoch', writeId: { clientId: 'c', writeId: 1 } }), { code: 'conflict' });
      assert.equal(await receipts.getWriteReceipt(id, 'c'), null);
      assert.equal((await chord.getContext(id))?.version, 1);
    });

    test('deleteContext removes the receipts: the id starts a new life and the same write id applies in it', async ({ chord, receipts }) => {
      const id = freshId('writes');
      await chord.setContext(id, { n: 1 }, { writeId: { clientId: 'c', writeId: 1 } });
      assert.notEqual(await receipts.getWriteReceipt(id, 'c'), null);
      await chord.deleteContext(id);
      assert.equal(await receipts.getWriteReceipt(id, 'c'), null);
      const again = await chord.setContext(id, { n: 2 }, { writeId: { clientId: 'c', writeId: 1 } });
      assert.equal(again.duplicate, undefined);
      assert.equal(again.context.version, 1);
    });

    test('receipts are pruned by age with the deltas (deleteDeltasByTime, and deleteDeltasOlderThan where bulk cleanup exists)', async ({ chord, backend, receipts, clock }) => {
      const id = freshId('writes');
      await chord.setContext(id, { n: 1 }, { writeId: { clientId: 'old', writeId: 1 } });
      clock.advance(100);
      await chord.setContext(id, { n: 2 }, { writeId: { clientId: 'new', writeId: 1 } });
      // Strictly older than the cutoff goes; the write at the cutoff stays.
      await backend.deleteDeltasByTime(id, clock() - 50);
      assert.equal(await receipts.getWriteReceipt(id, 'old'), null);
      assert.notEqual(await receipts.getWriteReceipt(id, 'new'), null);
      if (hasBulkCleanup(backend)) {
        clock.advance(100);
        await backend.deleteDeltasOlderThan(clock(), 1000);
        assert.equal(await receipts.getWriteReceipt(id, 'new'), null);
      }
    });

    test('getWriteReceipt and writeVersionOnce refuse a bad client or write id with ValidationError naming it', async ({ receipts }) => {
      await assert.rejects(receipts.getWriteReceipt('a', ''), { name: 'ValidationError', message: /clientId/ });
      await assert.rejects(receipts.writeVersionOnce('a', {}, {}, 0, { clientId: 'c', writeId: 0 }), { name: 'ValidationError', message: /writeId/ });
      await assert.rejects(receipts.writeVersionOnce('a', {}, {}, 0, { clientId: 'x'.repeat(257), writeId: 1 }), { name: 'ValidationError', message: /clientId/ });
    });
  });
}
