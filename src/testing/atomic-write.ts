import { strict as assert } from 'node:assert';
import { VersionConflictError } from '../errors.js';
import { Chord } from '../engine/chord.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import {
  backendTest,
  countingCalls,
  callUnchecked,
  randomId,
  refusesWithoutWriting,
  requireAtomicWrites,
  storedState,
  versionsOf,
  withoutEpoch,
} from './support.js';
import { BAD_CONTEXT_IDS, BAD_VERSIONS, NON_JSON_OBJECTS } from './validation.js';

async function rejectsWithConflict(call: () => Promise<unknown>, contextId: string, expected: number, actual: number): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof VersionConflictError, `expected a VersionConflictError, got ${String(error)}`);
    assert.equal(error.code, 'conflict');
    assert.equal(error.contextId, contextId);
    assert.equal(error.expectedVersion, expected);
    assert.equal(error.actualVersion, actual, 'the error must carry the stored version');
    return true;
  });
}

/** `writeVersion` (the `AtomicVersionWriter` capability): compare-and-set of context and delta. */
export function registerAtomicWriteTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('atomic version write', () => {
    test('the backend offers writeVersion, and the engine writes every version through it alone', async (backend, clock) => {
      const { spied, calls } = countingCalls(requireAtomicWrites(backend));
      const chord = new Chord({ backend: spied, clock });
      const id = randomId();
      await chord.setContext(id, { n: 1 });
      await chord.updateContext(id, { n: 2 });
      assert.equal(calls('writeVersion'), 2, 'one writeVersion per stored version');
      assert.equal(calls('setContext') + calls('setDelta'), 0, 'no separate context and delta writes beside writeVersion');
      assert.equal((await backend.getContext(id))?.version, 2);
    });

    test('writeVersion at expected version 0 writes version 1 of the context and its delta, stamped alike', async (raw, clock) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      clock.set(4_000);
      const result = await backend.writeVersion(id, { a: 1 }, { d: 1 }, 0);
      const context = { contextId: id, context: { a: 1 }, version: 1, insertedAt: 4_000 };
      const delta = { contextId: id, delta: { d: 1 }, version: 1, insertedAt: 4_000 };
      assert.deepEqual({ context: withoutEpoch(result.context), delta: result.delta }, { context, delta });
      assert.deepEqual(withoutEpoch(await backend.getContext(id)), context);
      assert.deepEqual(await backend.getDeltas(id, 0), [delta]);
    });

    test('writeVersion chains: each write expects the version the last one stored', async (raw, clock) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      for (let v = 0; v < 4; v++) {
        clock.set(100 * (v + 1));
        const { context } = await backend.writeVersion(id, { v: v + 1 }, { step: v + 1 }, v);
        assert.equal(context.version, v + 1);
      }
      assert.deepEqual(withoutEpoch(await backend.getContext(id)), { contextId: id, context: { v: 4 }, version: 4, insertedAt: 400 });
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [1, 2, 3, 4]);
    });

    test('writeVersion compares against the version setContext stored', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      await backend.setContext(id, { restored: true }, 41);
      const { context, delta } = await backend.writeVersion(id, { next: true }, { d: 42 }, 41);
      assert.equal(context.version, 42);
      assert.equal(delta.version, 42);
    });

    test('writeVersion with a stale expected version throws VersionConflictError and changes nothing', async (raw, clock) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      clock.set(100);
      await backend.writeVersion(id, { a: 1 }, { d: 1 }, 0);
      await backend.writeVersion(id, { a: 2 }, { d: 2 }, 1);
      const before = await storedState(backend);
      clock.set(200);
      await rejectsWithConflict(() => backend.writeVersion(id, { a: 'lost' }, { d: 'lost' }, 1), id, 1, 2);
      await rejectsWithConflict(() => backend.writeVersion(id, { a: 'lost' }, { d: 'lost' }, 0), id, 0, 2);
      assert.deepEqual(await storedState(backend), before, 'a conflicting write must write nothing');
    });

    test('writeVersion with an expected version ahead of the stored one throws VersionConflictError', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      await backend.writeVersion(id, { a: 1 }, { d: 1 }, 0);
      const before = await storedState(backend);
      await rejectsWithConflict(() => backend.writeVersion(id, { a: 9 }, { d: 9 }, 5), id, 5, 1);
      assert.deepEqual(await storedState(backend), before);
    });

    test('writeVersion expecting a context that does not exist throws VersionConflictError with version 0', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      await rejectsWithConflict(() => backend.writeVersion(id, { a: 1 }, { d: 1 }, 3), id, 3, 0);
      assert.equal(await backend.getContext(id), null);
      assert.deepEqual(await backend.listDeltas(), []);
    });

    test('writeVersion expecting 0 on a deleted context starts again at version 1', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      await backend.writeVersion(id, { a: 1 }, { d: 1 }, 0);
      await backend.deleteContext(id);
      await backend.deleteDeltasForContext(id);
      const { context } = await backend.writeVersion(id, { b: 1 }, { d: 'again' }, 0);
      assert.equal(context.version, 1);
      assert.deepEqual(versionsOf(await backend.getDeltas(id, 0)), [1]);
    });

    test('writeVersion replaces a delta already stored at the new version', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      await backend.setDelta(id, { stale: true }, 1);
      const { delta } = await backend.writeVersion(id, { a: 1 }, { fresh: true }, 0);
      assert.deepEqual(await backend.getDeltas(id, 0), [delta]);
      assert.deepEqual(delta.delta, { fresh: true });
    });

    test('concurrent writeVersion calls expecting the same version: exactly one wins, the rest conflict', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      for (const expected of [0, 1]) {
        const writers = Array.from({ length: 8 }, (_, i) => i);
        const results = await Promise.allSettled(
          writers.map((i) => backend.writeVersion(id, { writer: i, round: expected }, { writer: i, round: expected }, expected)),
        );
        const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        assert.equal(winners.length, 1, `round ${expected}: exactly one writer must win, ${winners.length} did`);
        for (const r of results) {
          if (r.status === 'rejected') assert.ok(r.reason instanceof VersionConflictError, `a loser got ${String(r.reason)}`);
        }
        const winner = winners[0];
        const stored = await backend.getContext(id);
        assert.deepEqual(stored?.context, { writer: winner, round: expected });
        assert.equal(stored.version, expected + 1);
        const deltas = await backend.getDeltas(id, expected);
        assert.deepEqual(deltas.map((d) => [d.version, d.delta]), [[expected + 1, { writer: winner, round: expected }]]);
      }
    });

    test('writeVersion on different ids at once succeeds for each', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const ids = Array.from({ length: 6 }, () => randomId());
      await Promise.all(ids.map((id) => backend.writeVersion(id, { id }, { id }, 0)));
      for (const id of ids) assert.equal((await backend.getContext(id))?.version, 1);
    });

    test('writeVersion refuses bad arguments with ValidationError, writing nothing', async (raw) => {
      const backend = requireAtomicWrites(raw);
      const id = randomId();
      await backend.writeVersion(id, { a: 1 }, { d: 1 }, 0);
      const call = (...args: unknown[]) => () => callUnchecked(backend, 'writeVersion', ...args);
      for (const [label, bad] of BAD_CONTEXT_IDS) {
        await refusesWithoutWriting(backend, call(bad, { a: 2 }, { d: 2 }, 0), 'contextId', `contextId ${label}`);
      }
      for (const c of NON_JSON_OBJECTS) {
        await refusesWithoutWriting(backend, call(id, c.make(), { d: 2 }, 1), `context${c.path}`, `context ${c.label}`);
        await refusesWithoutWriting(backend, call(id, { a: 2 }, c.make(), 1), `delta${c.path}`, `delta ${c.label}`);
      }
      for (const [label, bad] of BAD_VERSIONS) {
        await refusesWithoutWriting(backend, call(id, { a: 2 }, { d: 2 }, bad), 'expectedVersion', `expectedVersion ${label}`);
      }
      await refusesWithoutWriting(
        backend,
        call(id, { a: 2 }, { d: 2 }, Number.MAX_SAFE_INTEGER),
        'expectedVersion',
        'expectedVersion MAX_SAFE_INTEGER (the next version would not be safe)',
      );
    });
  });
}
