import * as assert from 'node:assert/strict';
import type { ChordBackend } from '../backend.js';
import { applyDelta } from '../delta/index.js';
import { Chord } from '../engine/chord.js';
import type { SyncResult } from '../engine/chord.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { ContextRecord, JsonObject } from '../types.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { freshId, seedOnly, withEngine } from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';

/** What a client holding `clientContext` has after applying `result`. */
export function clientAfterSync(clientContext: JsonObject, result: SyncResult): JsonObject {
  switch (result.kind) {
    case 'full':
      return result.context.context;
    case 'delta':
      return applyDelta(clientContext, result.delta);
    case 'no_change':
      return clientContext;
  }
}

/** Writes `contexts` one version each and returns the context at every version (index 0: `{}`). */
async function writeHistory(chord: Chord, id: string, contexts: JsonObject[]): Promise<JsonObject[]> {
  const history: JsonObject[] = [{}];
  for (const context of contexts) {
    const { context: record } = await chord.setContext(id, context);
    assert.equal(record.version, history.length);
    history.push(context);
  }
  return history;
}

function numbered(count: number): JsonObject[] {
  return Array.from({ length: count }, (_, i) => ({ n: i + 1, half: { v: Math.floor((i + 1) / 2) } }));
}

/** syncContext: full, delta, no_change, threshold, gaps, ahead, validation; and the README scenario. */
export function registerEngineSyncTests(api: SuiteApi, harness: BackendHarness, _options: EngineSuiteOptions = {}): void {
  api.describe('engine sync', () => {
    api.test('README scenario: presence set, theme updated, synced from nothing, v1 and v2', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = 'user:42:presence';
        const first = await chord.setContext(id, { status: 'online', metadata: { theme: 'light', language: 'en-US' } });
        assert.equal(first.context.version, 1);
        const second = await chord.updateContext(id, { metadata: { theme: 'dark' } });
        assert.equal(second.context.version, 2);
        const v2 = { status: 'online', metadata: { theme: 'dark', language: 'en-US' } };
        assert.deepEqual(second.context.context, v2);

        const fromNothing = await chord.syncContext(id, null);
        assert.equal(fromNothing.kind, 'full');
        assert.ok(fromNothing.kind === 'full');
        assert.equal(fromNothing.context.version, 2);
        assert.deepEqual(fromNothing.context.context, v2);

        const fromV1 = await chord.syncContext(id, 1);
        assert.ok(fromV1.kind === 'delta', `expected a delta, got ${fromV1.kind}`);
        assert.equal(fromV1.fromVersion, 1);
        assert.equal(fromV1.version, 2);
        assert.deepEqual(applyDelta(first.context.context, fromV1.delta), v2);

        const current = await chord.syncContext(id, 2);
        assert.deepEqual(current, { kind: 'no_change', version: 2, ...(second.context.epoch === undefined ? {} : { epoch: second.context.epoch }) });
      });
    });

    api.test('a missing context throws NotFoundError', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        for (const clientVersion of [null, 0, 3]) {
          await assert.rejects(chord.syncContext(freshId(), clientVersion), NotFoundError);
        }
      });
    });

    api.test('a client at any version within the threshold gets one delta to the current context', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        const history = await writeHistory(chord, id, numbered(6));
        for (let v = 0; v < 6; v++) {
          const result = await chord.syncContext(id, v);
          assert.ok(result.kind === 'delta', `from ${v}: expected a delta, got ${result.kind}`);
          assert.equal(result.fromVersion, v);
          assert.equal(result.version, 6);
          assert.deepEqual(applyDelta(history[v] as JsonObject, result.delta), history[6]);
        }
      });
    });

    api.test('a client ahead of the server gets the full context', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await writeHistory(chord, id, numbered(2));
        for (const ahead of [3, 100, Number.MAX_SAFE_INTEGER]) {
          const result = await chord.syncContext(id, ahead);
          assert.ok(result.kind === 'full', `from ${ahead}: expected full, got ${result.kind}`);
          assert.equal(result.context.version, 2);
          assert.deepEqual(result.context.context, { n: 2, half: { v: 1 } });
        }
      });
    });

    api.test('exactly deltaThreshold behind gets a delta; one more gets the full context', async () => {
      await withEngine(harness, { deltaThreshold: 3 }, async ({ chord }) => {
        const id = freshId();
        const history = await writeHistory(chord, id, numbered(6));
        const atThreshold = await chord.syncContext(id, 3);
        assert.ok(atThreshold.kind === 'delta');
        assert.deepEqual(applyDelta(history[3] as JsonObject, atThreshold.delta), history[6]);
        for (const v of [2, 1, 0]) {
          const past = await chord.syncContext(id, v);
          assert.ok(past.kind === 'full', `from ${v}: expected full, got ${past.kind}`);
          assert.equal(past.context.version, 6);
        }
      });
    });

    api.test('deltaThreshold 0: any client behind gets the full context', async () => {
      await withEngine(harness, { deltaThreshold: 0 }, async ({ chord }) => {
        const id = freshId();
        await writeHistory(chord, id, numbered(2));
        assert.equal((await chord.syncContext(id, 1)).kind, 'full');
        assert.equal((await chord.syncContext(id, 2)).kind, 'no_change');
      });
    });

    api.test('after old deltas are pruned, clients behind the gap get the full context, the others a delta', async () => {
      await withEngine(harness, {}, async ({ chord, backend, clock }) => {
        const id = freshId();
        const history = await writeHistory(chord, id, numbered(3));
        clock.advance(10);
        const cutoff = clock();
        for (const context of numbered(6).slice(3)) {
          await chord.setContext(id, context);
          history.push(context);
        }
        assert.equal(await backend.deleteDeltasByTime(id, cutoff), 3);
        for (const v of [0, 1, 2]) {
          const result = await chord.syncContext(id, v);
          assert.ok(result.kind === 'full', `from ${v}: expected full after pruning, got ${result.kind}`);
          assert.equal(result.context.version, 6);
        }
        for (const v of [3, 4, 5]) {
          const result = await chord.syncContext(id, v);
          assert.ok(result.kind === 'delta', `from ${v}: expected delta, got ${result.kind}`);
          assert.deepEqual(applyDelta(history[v] as JsonObject, result.delta), history[6]);
        }
      });
    });

    api.test('any missing delta between the client and the current version gives the full context', async () => {
      // A backend that hides one stored delta: the engine must see the hole, not merge around it.
      let hidden = 0;
      const hiding = (b: ChordBackend): ChordBackend =>
        seedOnly(b, {
          getDeltas: async (contextId, clientVersion) =>
            (await b.getDeltas(contextId, clientVersion)).filter((d) => d.version !== hidden),
        });
      await withEngine(harness, { wrap: hiding }, async ({ chord }) => {
        const id = freshId();
        const history = await writeHistory(chord, id, numbered(5));
        for (hidden = 1; hidden <= 5; hidden++) {
          for (let v = 0; v < 5; v++) {
            const result = await chord.syncContext(id, v);
            if (v < hidden) {
              assert.ok(result.kind === 'full', `delta ${hidden} missing, from ${v}: expected full, got ${result.kind}`);
              assert.equal(result.context.version, 5);
            } else {
              assert.ok(result.kind === 'delta', `delta ${hidden} missing, from ${v}: expected delta, got ${result.kind}`);
              assert.deepEqual(applyDelta(history[v] as JsonObject, result.delta), history[5]);
            }
          }
        }
      });
    });

    api.test('deltas written after the context was read are left out: the delta ends at the version returned', async () => {
      // A backend whose getContext answers with an older record, as when a writer lands between
      // the engine's two reads.
      let stale: ContextRecord | null = null;
      const lagging = (b: ChordBackend): ChordBackend =>
        seedOnly(b, { getContext: async (contextId) => stale ?? b.getContext(contextId) });
      await withEngine(harness, { wrap: lagging }, async ({ chord, backend, clock }) => {
        const id = freshId();
        const history: JsonObject[] = [{}, { n: 1 }, { n: 2, m: 1 }, { n: 3, m: 2 }];
        const writer = new Chord({ backend, clock });
        for (const context of history.slice(1)) await writer.setContext(id, context);
        stale = { contextId: id, context: history[2] as JsonObject, version: 2, insertedAt: clock() };
        const result = await chord.syncContext(id, 1);
        assert.ok(result.kind === 'delta', `expected delta, got ${result.kind}`);
        assert.equal(result.version, 2);
        assert.deepEqual(applyDelta(history[1] as JsonObject, result.delta), history[2]);
      });
    });

    api.test('a backend with readForSync serves a sync in that one call; null syncs read the context alone', async () => {
      const calls: string[] = [];
      const reading = (b: ChordBackend): ChordBackend => {
        const view = seedOnly(b, {
          getContext: async (contextId) => (calls.push('getContext'), b.getContext(contextId)),
          getDeltas: async (contextId, clientVersion) => (calls.push('getDeltas'), b.getDeltas(contextId, clientVersion)),
        });
        const readForSync = async (contextId: string, clientVersion: number, maxBehind: number) => {
          calls.push(`readForSync(${clientVersion}, ${maxBehind})`);
          const current = await b.getContext(contextId);
          if (current === null) return null;
          const behind = current.version - clientVersion;
          const deltas = behind > 0 && behind <= maxBehind ? await b.getDeltas(contextId, clientVersion) : [];
          const head = { version: current.version, epoch: current.epoch, insertedAt: current.insertedAt };
          return { ...head, deltas, context: deltas.length > 0 || behind === 0 ? null : current.context };
        };
        return Object.assign(view, { readForSync });
      };
      await withEngine(harness, { wrap: reading, deltaThreshold: 3 }, async ({ chord }) => {
        const id = freshId();
        const history = await writeHistory(chord, id, numbered(5));
        calls.length = 0;
        const result = await chord.syncContext(id, 2);
        assert.ok(result.kind === 'delta', `expected delta, got ${result.kind}`);
        assert.deepEqual(applyDelta(history[2] as JsonObject, result.delta), history[5]);
        assert.equal((await chord.syncContext(id, 1)).kind, 'full');
        assert.equal((await chord.syncContext(id, 5)).kind, 'no_change');
        assert.equal((await chord.syncContext(id, null)).kind, 'full');
        assert.deepEqual(calls, ['readForSync(2, 3)', 'readForSync(1, 3)', 'readForSync(5, 3)', 'getContext']);
      });
    });

    api.test('a bad clientVersion throws ValidationError naming clientVersion', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const id = freshId();
        await chord.setContext(id, { a: 1 });
        for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1', undefined, 2 ** 53]) {
          await assert.rejects(chord.syncContext(id, bad as number), (error: unknown) => {
            assert.ok(error instanceof ValidationError, `for ${String(bad)}: ${String(error)}`);
            assert.equal(error.argument, 'clientVersion');
            return true;
          });
        }
        await assert.rejects(chord.syncContext('', 0), ValidationError);
      });
    });
  });
}
