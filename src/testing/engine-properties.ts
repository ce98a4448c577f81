import * as assert from 'node:assert/strict';
import type { ChordBackend } from '../backend.js';
import { unset } from '../delta/index.js';
import { Chord } from '../engine/chord.js';
import type { ContextChange, ContextChanges } from '../engine/chord.js';
import type { Json, JsonObject } from '../types.js';
import type { ManualClock } from './harness.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { clientAfterSync } from './engine-sync.js';
import { modelMerge } from './merge-model.js';
import { freshId, resolveEngineSuiteOptions, storedDeltaVersions, withEngine } from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';

type FastCheck = typeof import('fast-check');

// fast-check is loaded only when these tests run, so `chord-sync/testing` imports without it.
async function loadFastCheck(): Promise<FastCheck> {
  try {
    return await import('fast-check');
  } catch (cause) {
    throw new Error('the engine property tests need the fast-check package: npm install --save-dev fast-check', { cause });
  }
}

type Operation =
  | { readonly kind: 'set'; readonly context: JsonObject }
  | { readonly kind: 'update'; readonly changes: ContextChanges }
  | { readonly kind: 'repeat' } // set the current context again: must be a no-op
  | { readonly kind: 'tick'; readonly by: number };

type Pruning =
  | { readonly kind: 'none' }
  | { readonly kind: 'threshold'; readonly keep: number }
  | { readonly kind: 'time'; readonly age: number };

// Keys that trip naive code: delta-format lookalikes, the empty key, and prototype names.
const KEYS = ['a', 'b', 'c', 'action', 'value', 'old', 's', 'o', 'd', '$set', '', 'é', '__proto__', 'constructor'];

function arbitraries(fc: FastCheck) {
  const key = fc.constantFrom(...KEYS);
  const scalar = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -3, max: 3 }),
    fc.string({ maxLength: 3 }),
  );
  const { value } = fc.letrec<{ value: Json }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalar,
      fc.array(scalar, { maxLength: 3 }),
      fc.dictionary(key, tie('value'), { maxKeys: 3, noNullPrototype: true }),
    ),
  }));
  const context = fc.dictionary(key, value, { maxKeys: 4, noNullPrototype: true });
  const { change } = fc.letrec<{ change: ContextChange }>((tie) => ({
    change: fc.oneof(
      { depthSize: 'small' },
      value,
      fc.constant(unset),
      fc.dictionary(key, tie('change'), { maxKeys: 3, noNullPrototype: true }),
    ),
  }));
  const changes: import('fast-check').Arbitrary<ContextChanges> = fc.dictionary(key, change, { maxKeys: 3, noNullPrototype: true });
  const operation: import('fast-check').Arbitrary<Operation> = fc.oneof(
    { arbitrary: context.map((c) => ({ kind: 'set' as const, context: c })), weight: 3 },
    { arbitrary: changes.map((c) => ({ kind: 'update' as const, changes: c })), weight: 4 },
    { arbitrary: fc.constant({ kind: 'repeat' as const }), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 20 }).map((by) => ({ kind: 'tick' as const, by })), weight: 1 },
  );
  const history = fc.tuple(context, fc.array(operation, { maxLength: 12 }));
  const pruning: import('fast-check').Arbitrary<Pruning> = fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.integer({ min: 0, max: 6 }).map((keep) => ({ kind: 'threshold' as const, keep })),
    fc.integer({ min: 0, max: 40 }).map((age) => ({ kind: 'time' as const, age })),
  );
  return { history, pruning, threshold: fc.integer({ min: 0, max: 15 }) };
}

/** Runs `operations`; returns the context at every version (index = version; 0 is `{}`). */
async function play(
  chord: Chord,
  clock: ManualClock,
  id: string,
  first: JsonObject,
  operations: readonly Operation[],
  afterEach?: (byVersion: readonly JsonObject[]) => Promise<void>,
): Promise<JsonObject[]> {
  const byVersion: JsonObject[] = [{}];
  const created = await chord.setContext(id, first);
  assert.equal(created.context.version, 1);
  assert.deepEqual(created.context.context, first);
  byVersion.push(created.context.context);
  await afterEach?.(byVersion);
  for (const op of operations) {
    await playOne(chord, clock, id, op, byVersion);
    await afterEach?.(byVersion);
  }
  return byVersion;
}

async function playOne(chord: Chord, clock: ManualClock, id: string, op: Operation, byVersion: JsonObject[]): Promise<void> {
  {
    const current = byVersion.at(-1) as JsonObject;
    if (op.kind === 'tick') {
      clock.advance(op.by);
      return;
    }
    const expected =
      op.kind === 'set' ? op.context : op.kind === 'update' ? modelMerge(current, op.changes) : current;
    const result =
      op.kind === 'update' ? await chord.updateContext(id, op.changes) : await chord.setContext(id, op.kind === 'set' ? op.context : current);
    assert.deepEqual(result.context.context, expected);
    if (!sameJson(expected, current)) {
      assert.ok(result.delta !== null, `${op.kind} changed the context but stored no delta`);
      assert.equal(result.context.version, byVersion.length);
      byVersion.push(result.context.context);
    } else {
      assert.equal(result.delta, null, `${op.kind} changed nothing but stored a delta`);
      assert.equal(result.context.version, byVersion.length - 1);
    }
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

async function prune(backend: ChordBackend, clock: ManualClock, id: string, pruning: Pruning): Promise<void> {
  if (pruning.kind === 'threshold') await backend.deleteDeltasExceedingThreshold(id, pruning.keep);
  if (pruning.kind === 'time') await backend.deleteDeltasByTime(id, clock() - pruning.age);
}

/** Random histories: every client converges; no-ops write nothing; the kind of answer is the right one. */
export function registerEnginePropertyTests(api: SuiteApi, harness: BackendHarness, options: EngineSuiteOptions = {}): void {
  const suite = resolveEngineSuiteOptions(options);
  const runs = suite.propertyRuns;

  api.describe('engine properties', () => {
    api.test(
      `random histories (${runs}): a client at any stored version that syncs and applies the result ends at the server's context`,
      async () => {
        const fc = await loadFastCheck();
        const { history, pruning, threshold } = arbitraries(fc);
        await withEngine(harness, {}, async ({ backend, clock }) => {
          await fc.assert(
            fc.asyncProperty(history, pruning, threshold, async ([first, operations], pruneBy, deltaThreshold) => {
              const chord = new Chord({ backend, clock, deltaThreshold });
              const id = freshId('prop');
              const byVersion = await play(chord, clock, id, first, operations);
              await prune(backend, clock, id, pruneBy);
              const current = byVersion.length - 1;
              const server = await chord.getContext(id);
              assert.ok(server !== null);
              assert.equal(server.version, current);
              assert.deepEqual(server.context, byVersion[current]);
              const stored = new Set(await storedDeltaVersions(backend, id));

              const clients: Array<[number | null, JsonObject]> = byVersion.map((c, v) => [v, c]);
              clients.push([null, {}], [current + 1, { stale: true }], [current + 7, {}]);
              for (const [clientVersion, clientContext] of clients) {
                const result = await chord.syncContext(id, clientVersion);
                assert.deepEqual(clientAfterSync(clientContext, result), server.context, `client at ${clientVersion}`);
                let expectedKind: 'full' | 'delta' | 'no_change';
                if (clientVersion === null || clientVersion > current) expectedKind = 'full';
                else if (clientVersion === current) expectedKind = 'no_change';
                else if (current - clientVersion > deltaThreshold) expectedKind = 'full';
                else {
                  let contiguous = true;
                  for (let v = clientVersion + 1; v <= current; v++) contiguous &&= stored.has(v);
                  expectedKind = contiguous ? 'delta' : 'full';
                }
                assert.equal(result.kind, expectedKind, `client at ${clientVersion} of ${current}`);
                if (result.kind === 'delta') {
                  assert.equal(result.fromVersion, clientVersion);
                  assert.equal(result.version, current);
                } else if (result.kind === 'no_change') {
                  assert.equal(result.version, current);
                } else {
                  assert.equal(result.context.version, current);
                }
              }
            }),
            { numRuns: runs },
          );
        });
      },
      suite.propertyTimeoutMs,
    );

    api.test(
      `random histories synced after every write (${Math.max(1, Math.floor(runs / 2))}): clients at every version converge, merges built onto cached ones included`,
      async () => {
        const fc = await loadFastCheck();
        const { history, pruning, threshold } = arbitraries(fc);
        await withEngine(harness, {}, async ({ backend, clock }) => {
          await fc.assert(
            fc.asyncProperty(history, pruning, threshold, fc.boolean(), async ([first, operations], pruneBy, deltaThreshold, tinyCache) => {
              // A tiny cache evicts merges between a sync's read and its answer, so the re-read path runs too.
              const chord = new Chord({ backend, clock, deltaThreshold, ...(tinyCache ? { syncCacheBytes: 200 } : {}) });
              const id = freshId('inc');
              let step = 0;
              await play(chord, clock, id, first, operations, async (byVersion) => {
                // Every other step, prune first: deltas a cached merge would be extended with may be gone.
                if (step++ % 2 === 1) await prune(backend, clock, id, pruneBy);
                const current = byVersion.length - 1;
                const server = await chord.getContext(id);
                assert.deepEqual(server?.context, byVersion[current]);
                for (let v = 0; v <= current; v++) {
                  const result = await chord.syncContext(id, v);
                  assert.deepEqual(clientAfterSync(byVersion[v] as JsonObject, result), byVersion[current], `client at ${v} of ${current}`);
                }
              });
            }),
            { numRuns: Math.max(1, Math.floor(runs / 2)) },
          );
        });
      },
      suite.propertyTimeoutMs,
    );

    api.test(
      `random writes with expectedVersion (${Math.max(1, Math.floor(runs / 4))}): a wrong expectation writes nothing`,
      async () => {
        const fc = await loadFastCheck();
        const { history } = arbitraries(fc);
        await withEngine(harness, {}, async ({ chord, backend, clock }) => {
          await fc.assert(
            fc.asyncProperty(history, fc.integer({ min: 0, max: 20 }), async ([first, operations], guess) => {
              const id = freshId('expect');
              const byVersion = await play(chord, clock, id, first, operations);
              const current = byVersion.length - 1;
              const next = { guessed: guess };
              const attempt = chord.setContext(id, next, { expectedVersion: guess });
              if (guess === current) {
                const { context } = await attempt;
                assert.equal(context.version, sameJson(byVersion[current], next) ? current : current + 1);
              } else {
                await assert.rejects(attempt, { code: 'conflict' });
                assert.equal((await chord.getContext(id))?.version, current);
                assert.deepEqual((await storedDeltaVersions(backend, id)).at(-1), current);
              }
            }),
            { numRuns: Math.max(1, Math.floor(runs / 4)) },
          );
        });
      },
      suite.propertyTimeoutMs,
    );
  });
}
