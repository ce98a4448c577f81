import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { SYNC_DELTA_BYTES_FLOOR } from '../backend.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, callUnchecked, randomId, rejectsWithValidation, requireSyncReader, versionsOf, writeDeltas } from './support.js';
import { BAD_CONTEXT_IDS, BAD_VERSIONS } from './validation.js';

/** Incompressible text of about `bytes` bytes, so every storage measures it at about that size. */
function noise(bytes: number): string {
  return randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64');
}

/** `readForSync` (the `SyncReader` capability): the head, and the deltas or the context a client needs, in one call. */
export function registerSyncReadTests(api: SuiteApi, harness: BackendHarness, options: { readonly epochs: boolean } = { epochs: true }): void {
  const test = backendTest(api, harness);
  api.describe('sync read', () => {
    test('readForSync of a missing context is null', async (raw) => {
      const backend = requireSyncReader(raw);
      assert.equal(await backend.readForSync(randomId(), 0, 100), null);
    });

    test('readForSync gives the head and, ascending, exactly the deltas getDeltas has after the client version, without the context', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await writeDeltas(backend, clock, id, [[3, 30], [1, 10], [5, 50], [2, 20], [4, 40]]);
      clock.set(60);
      const context = await backend.setContext(id, { at: 5 }, 5);
      for (const client of [0, 1, 2, 3, 4]) {
        const read = await backend.readForSync(id, client, 100);
        assert.deepEqual(
          { ...read, deltas: read?.deltas.map((d) => ({ ...d })) },
          { version: 5, epoch: context.epoch, insertedAt: 60, deltas: await backend.getDeltas(id, client), context: null },
          `from ${client}`,
        );
      }
      const read = await backend.readForSync(id, 2, 100);
      assert.deepEqual(versionsOf(read?.deltas ?? []), [3, 4, 5]);
      assert.deepEqual({ ...read?.deltas[0] }, { contextId: id, delta: { contextId: id, version: 3 }, version: 3, insertedAt: 30 });
    });

    test('readForSync leaves out deltas above the context version; with one pruned it gives the context instead', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]);
      const context = await backend.setContext(id, { at: 4 }, 4);
      const all = await backend.readForSync(id, 0, 100);
      assert.deepEqual(versionsOf(all?.deltas ?? []), [1, 2, 3, 4]);
      assert.equal(all?.context, null);
      await backend.deleteDeltasByTime(id, 25);
      const pruned = await backend.readForSync(id, 0, 100);
      assert.deepEqual(pruned?.deltas, []);
      assert.deepEqual(pruned?.context, context.context);
      assert.deepEqual(versionsOf((await backend.readForSync(id, 2, 100))?.deltas ?? []), [3, 4], 'from past the gap');
    });

    test('readForSync reads nothing but the head for a current client, and the context for one ahead or more than maxBehind behind', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      await writeDeltas(backend, clock, id, [[1, 10], [2, 20], [3, 30], [4, 40]]);
      clock.set(70);
      const context = await backend.setContext(id, { at: 4 }, 4);
      const head = { version: 4, epoch: context.epoch, insertedAt: 70 };
      assert.deepEqual(await backend.readForSync(id, 4, 100), { ...head, deltas: [], context: null }, 'current');
      for (const [client, maxBehind] of [[7, 100], [0, 3], [1, 2], [3, 0]] as const) {
        assert.deepEqual(await backend.readForSync(id, client, maxBehind), { ...head, deltas: [], context: context.context }, `from ${client}, maxBehind ${maxBehind}`);
      }
      assert.deepEqual(versionsOf((await backend.readForSync(id, 0, 4))?.deltas ?? []), [1, 2, 3, 4], 'exactly maxBehind behind');
    });

    test('readForSync gives the context, not the deltas, when the deltas add up to more than the context (and the floor)', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      const piece = Math.ceil(SYNC_DELTA_BYTES_FLOOR / 2);
      clock.set(10);
      for (let v = 1; v <= 3; v++) await backend.setDelta(id, { big: noise(piece) }, v);
      const small = await backend.setContext(id, { small: true }, 3);
      const tooBig = await backend.readForSync(id, 0, 100);
      assert.deepEqual(tooBig?.deltas, [], 'three half-floor deltas exceed the floor and a small context');
      assert.deepEqual(tooBig?.context, small.context);
      assert.deepEqual(versionsOf((await backend.readForSync(id, 2, 100))?.deltas ?? []), [3], 'one half-floor delta is within the floor');
      const large = { large: noise(4 * piece) };
      await backend.setContext(id, large, 3);
      const fits = await backend.readForSync(id, 0, 100);
      assert.deepEqual(versionsOf(fits?.deltas ?? []), [1, 2, 3], 'the same deltas fit under a larger context');
      assert.equal(fits?.context, null);
    });

    test('readForSync at versions past 1e14 reads exactly the deltas after the client (no digit lost)', async (raw, clock) => {
      const backend = requireSyncReader(raw);
      const id = randomId();
      const top = Number.MAX_SAFE_INTEGER - 1;
      await writeDeltas(backend, clock, id, [[top - 3, 10], [top - 2, 20], [top - 1, 30], [top, 40]]);
      const context = await backend.setContext(id, { at: 'top' }, top);
      assert.deepEqual(versionsOf((await backend.readForSync(id, top - 2, 100))?.deltas ?? []), [top - 1, top]);
      if (options.epochs) {
        const read = await backend.readForSync(id, top - 3, 100, { version: top - 1, epoch: context.epoch as string });
        assert.equal(read?.known, true);
        assert.deepEqual(versionsOf(read?.deltas ?? []), [top]);
      }
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

    if (options.epochs) {
      test('readForSync with `known` reads only the deltas after it (none at the context version); a `known` it cannot use changes nothing', async (raw, clock) => {
        const backend = requireSyncReader(raw);
        const id = randomId();
        await writeDeltas(backend, clock, id, [[1, 10], [2, 20], [3, 30], [4, 40]]);
        clock.set(50);
        const context = await backend.setContext(id, { at: 4 }, 4);
        const epoch = context.epoch as string;
        const head = { version: 4, epoch, insertedAt: 50 };
        const plain = async (client: number, maxBehind = 100) => {
          const read = await backend.readForSync(id, client, maxBehind);
          return { ...read, deltas: read?.deltas.map((d) => ({ ...d })) };
        };
        assert.deepEqual(await backend.readForSync(id, 1, 100, { version: 4, epoch }), { ...head, deltas: [], context: null, known: true }, 'known at the context version');
        const after = await backend.readForSync(id, 0, 100, { version: 2, epoch });
        assert.deepEqual(
          { ...after, deltas: after?.deltas.map((d) => ({ ...d })) },
          { ...head, deltas: (await backend.getDeltas(id, 2)).map((d) => ({ ...d })), context: null, known: true },
          'known below the context version: the deltas after it',
        );
        assert.deepEqual(versionsOf(after?.deltas ?? []), [3, 4]);
        for (const [client, maxBehind, known, label] of [
          [1, 100, { version: 5, epoch }, 'a version not reached'],
          [1, 100, { version: 1, epoch }, 'the client version itself'],
          [2, 100, { version: 1, epoch }, 'below the client version'],
          [1, 100, { version: 4, epoch: `${epoch}x` }, 'another epoch'],
          [0, 2, { version: 4, epoch }, 'a client past maxBehind'],
          [4, 100, { version: 4, epoch }, 'a current client'],
          [6, 100, { version: 4, epoch }, 'a client ahead'],
        ] as const) {
          const read = await backend.readForSync(id, client, maxBehind, known);
          assert.deepEqual({ ...read, deltas: read?.deltas.map((d) => ({ ...d })) }, await plain(client, maxBehind), label);
          assert.equal(read?.known, undefined, `${label}: not known`);
        }
        // The client's next delta pruned (oldest first): as without known, the context, even for a
        // known merge at the context version.
        await backend.deleteDeltasExceedingThreshold(id, 3);
        const firstGone = await backend.readForSync(id, 0, 100, { version: 4, epoch });
        assert.equal(firstGone?.known, undefined, 'the client\'s next delta is gone');
        assert.deepEqual(firstGone?.context, context.context);
        assert.equal((await backend.readForSync(id, 1, 100, { version: 4, epoch }))?.known, true, 'a client past the pruned delta');
        // A delta after the known version pruned: as without known (the context).
        await backend.deleteDeltasExceedingThreshold(id, 0);
        const pruned = await backend.readForSync(id, 1, 100, { version: 2, epoch });
        assert.equal(pruned?.known, undefined);
        assert.deepEqual(pruned?.context, context.context);
        assert.equal(await backend.readForSync(randomId(), 0, 100, { version: 1, epoch }), null, 'a missing context');
        for (const [label, bad, argument] of [
          ['null', null, 'known'],
          ['a number', 4, 'known'],
          ['a negative version', { version: -1, epoch }, 'known.version'],
          ['an empty epoch', { version: 4, epoch: '' }, 'known.epoch'],
          ['no epoch', { version: 4 }, 'known.epoch'],
        ] as const) {
          await rejectsWithValidation(() => callUnchecked(backend, 'readForSync', id, 1, 100, bad), argument, `known ${label}`);
        }
      });
    }
  });
}
