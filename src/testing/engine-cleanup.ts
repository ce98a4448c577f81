import * as assert from 'node:assert/strict';
import type { ChordBackend } from '../backend.js';
import { hasBulkCleanup } from '../backend.js';
import type { Chord } from '../engine/chord.js';
import type { CleanupReport, CleanupStep } from '../engine/cleanup.js';
import { ValidationError } from '../errors.js';
import type { ManualClock } from './harness.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import {
  countingBackend,
  freshId,
  resolveEngineSuiteOptions,
  seedOnly,
  storedDeltaVersions,
  withEngine,
} from './engine-support.js';
import type { EngineSuiteOptions } from './engine-support.js';

/** The methods a cleanup on a bulk-cleanup backend must not call: they work one context at a time. */
const PER_CONTEXT_METHODS = [
  'getContext',
  'getDeltas',
  'deleteContext',
  'deleteDeltasForContext',
  'deleteDeltasByTime',
  'deleteDeltasExceedingThreshold',
  'listContexts',
  'listContextsWithDeltaCounts',
  'listDeltas',
] as const;

function report(contexts: number, withContexts: number, expired: number, beyondThreshold: number) {
  return {
    contextsDeleted: contexts,
    deltasDeleted: { withContexts, expired, beyondThreshold, total: withContexts + expired + beyondThreshold },
  };
}

function withoutDuration(r: CleanupReport): Omit<CleanupReport, 'durationMs'> {
  assert.ok(Number.isFinite(r.durationMs) && r.durationMs >= 0, `durationMs ${r.durationMs}`);
  const { durationMs: _ignored, ...rest } = r;
  return rest;
}

/** Writes `count` new versions of `id`, each a different context. */
async function versions(chord: Chord, id: string, count: number, tag = ''): Promise<void> {
  for (let i = 0; i < count; i++) await chord.setContext(id, { step: `${tag}${i}` });
}

/**
 * Seven contexts written at t0 (3 versions each); two of them (c2, c4) written 3 more times at
 * t0+100; the clock left at t0+200. With contextTtl 150, deltaTtl 150 and threshold 2: five idle
 * contexts go with their 15 deltas, c2 and c4 lose 3 expired deltas each and then 1 each past the
 * threshold, keeping versions 5 and 6.
 */
async function mixedScenario(chord: Chord, clock: ManualClock): Promise<{ ids: string[]; active: string[] }> {
  const prefix = freshId('cleanup');
  const ids = Array.from({ length: 7 }, (_, i) => `${prefix}:c${i}`);
  for (const id of ids) await versions(chord, id, 3);
  clock.advance(100);
  const active = [ids[2] as string, ids[4] as string];
  for (const id of active) await versions(chord, id, 3, 'late');
  clock.advance(100);
  return { ids, active };
}
const MIXED_OPTIONS = { contextTtl: 150, deltaTtl: 150, deltaThreshold: 2, batchSize: 2 } as const;
const MIXED_REPORT = report(5, 15, 6, 2);

async function assertMixedAftermath(chord: Chord, backend: ChordBackend, ids: string[], active: string[]): Promise<void> {
  for (const id of ids) {
    if (active.includes(id)) {
      assert.equal((await chord.getContext(id))?.version, 6);
      assert.deepEqual(await storedDeltaVersions(backend, id), [5, 6]);
    } else {
      assert.equal(await chord.getContext(id), null, `${id} was idle and should be gone`);
      assert.deepEqual(await storedDeltaVersions(backend, id), []);
    }
  }
}

/** cleanup(): the three steps, the report, narrowing and overrides, batches, and the seed fallback. */
export function registerEngineCleanupTests(api: SuiteApi, harness: BackendHarness, options: EngineSuiteOptions = {}): void {
  const suite = resolveEngineSuiteOptions(options);

  api.describe('engine cleanup', () => {
    api.test('deltas older than deltaTtl are deleted, younger ones kept, and the report counts them', async () => {
      await withEngine(harness, { deltaTtl: 100, contextTtl: null }, async ({ chord, backend, clock }) => {
        const id = freshId();
        await versions(chord, id, 2); // at t0
        clock.advance(50);
        await versions(chord, id, 1, 'b'); // at t0+50: exactly at the cutoff below, so kept
        clock.advance(100);
        const result = await chord.cleanup();
        assert.deepEqual(withoutDuration(result), report(0, 0, 2, 0));
        assert.deepEqual(await storedDeltaVersions(backend, id), [3]);
        assert.equal((await chord.getContext(id))?.version, 3);
      });
    });

    api.test('with contextTtl, contexts idle longer are deleted with their deltas; recently written ones stay', async () => {
      await withEngine(harness, { contextTtl: 100, deltaTtl: null }, async ({ chord, backend, clock }) => {
        const idle = freshId('idle');
        const busy = freshId('busy');
        await versions(chord, idle, 2);
        await versions(chord, busy, 1);
        clock.advance(100);
        await versions(chord, busy, 1, 'again'); // written at exactly t0+100
        clock.advance(100); // cutoff t0+100: busy's last write is not older than it
        const result = await chord.cleanup();
        assert.deepEqual(withoutDuration(result), report(1, 2, 0, 0));
        assert.equal(await chord.getContext(idle), null);
        assert.deepEqual(await storedDeltaVersions(backend, idle), []);
        assert.equal((await chord.getContext(busy))?.version, 2);
        assert.deepEqual(await storedDeltaVersions(backend, busy), [1, 2]);
      });
    });

    api.test('contexts never expire by default (contextTtl null)', async () => {
      await withEngine(harness, {}, async ({ chord, clock }) => {
        const id = freshId();
        await versions(chord, id, 1);
        clock.advance(365 * 24 * 60 * 60 * 1000);
        const result = await chord.cleanup();
        assert.equal(result.contextsDeleted, 0);
        assert.equal(result.deltasDeleted.expired, 1, 'the default deltaTtl (24 h) removes the year-old delta');
        assert.equal((await chord.getContext(id))?.version, 1);
      });
    });

    api.test('only the newest deltaThreshold deltas of each context are kept', async () => {
      await withEngine(harness, { deltaThreshold: 2, deltaTtl: null }, async ({ chord, backend }) => {
        const many = freshId('many');
        const few = freshId('few');
        await versions(chord, many, 5);
        await versions(chord, few, 2);
        const result = await chord.cleanup();
        assert.deepEqual(withoutDuration(result), report(0, 0, 0, 3));
        assert.deepEqual(await storedDeltaVersions(backend, many), [4, 5]);
        assert.deepEqual(await storedDeltaVersions(backend, few), [1, 2]);
        const sync = await chord.syncContext(many, 3);
        assert.equal(sync.kind, 'delta');
      });
    });

    api.test('all three steps in one run, with the report of each', async () => {
      await withEngine(harness, {}, async ({ chord, backend, clock }) => {
        const { ids, active } = await mixedScenario(chord, clock);
        const result = await chord.cleanup(MIXED_OPTIONS);
        assert.deepEqual(withoutDuration(result), MIXED_REPORT);
        await assertMixedAftermath(chord, backend, ids, active);
        assert.deepEqual(withoutDuration(await chord.cleanup(MIXED_OPTIONS)), report(0, 0, 0, 0), 'a second run finds nothing');
      });
    });

    api.test('a backend with only the seed methods gets the same cleanup, paged through the per-context calls', async () => {
      await withEngine(harness, { wrap: (b) => seedOnly(b) }, async ({ chord, backend, clock }) => {
        assert.equal(hasBulkCleanup(chord.backend), false);
        const { ids, active } = await mixedScenario(chord, clock);
        // batchSize 2 is also the page size: deleting while paging must not skip anyone.
        const result = await chord.cleanup(MIXED_OPTIONS);
        assert.deepEqual(withoutDuration(result), MIXED_REPORT);
        await assertMixedAftermath(chord, backend, ids, active);
      });
    });

    api.test('options.contextId narrows every step to that context', async () => {
      await withEngine(harness, { deltaTtl: 10, contextTtl: 10, deltaThreshold: 1 }, async ({ chord, backend, clock }) => {
        const target = freshId('target');
        const bystander = freshId('bystander');
        await versions(chord, target, 3);
        await versions(chord, bystander, 3);
        clock.advance(5);
        await versions(chord, target, 2, 'late'); // target: v4, v5 young, context young
        clock.advance(6);
        const result = await chord.cleanup({ contextId: target });
        assert.deepEqual(withoutDuration(result), report(0, 0, 3, 1));
        assert.deepEqual(await storedDeltaVersions(backend, target), [5]);
        assert.deepEqual(await storedDeltaVersions(backend, bystander), [1, 2, 3]);
        assert.equal((await chord.getContext(bystander))?.version, 3);
        const idle = await chord.cleanup({ contextId: bystander });
        assert.deepEqual(withoutDuration(idle), report(1, 3, 0, 0));
        assert.equal(await chord.getContext(bystander), null);
      });
    });

    api.test('per-call options override the config; null turns a step off', async () => {
      await withEngine(harness, { deltaTtl: null, deltaThreshold: 100 }, async ({ chord, backend, clock }) => {
        const id = freshId();
        await versions(chord, id, 4);
        clock.advance(50);
        assert.deepEqual(withoutDuration(await chord.cleanup()), report(0, 0, 0, 0));
        assert.deepEqual(withoutDuration(await chord.cleanup({ deltaTtl: 60 })), report(0, 0, 0, 0));
        assert.deepEqual(withoutDuration(await chord.cleanup({ deltaTtl: null, deltaThreshold: 3 })), report(0, 0, 0, 1));
        assert.deepEqual(withoutDuration(await chord.cleanup({ deltaTtl: 40, deltaThreshold: 100 })), report(0, 0, 3, 0));
        assert.deepEqual(await storedDeltaVersions(backend, id), []);
        assert.deepEqual(withoutDuration(await chord.cleanup({ contextTtl: 49 })), report(1, 0, 0, 0));
        assert.equal(await chord.getContext(id), null);
      });
    });

    api.test('threshold 0 deletes every delta, and sync then sends the full context', async () => {
      await withEngine(harness, { deltaTtl: null }, async ({ chord, backend }) => {
        const id = freshId();
        await versions(chord, id, 3);
        assert.deepEqual(withoutDuration(await chord.cleanup({ deltaThreshold: 0 })), report(0, 0, 0, 3));
        assert.deepEqual(await storedDeltaVersions(backend, id), []);
        const sync = await chord.syncContext(id, 2);
        assert.ok(sync.kind === 'full');
        assert.equal(sync.context.version, 3);
      });
    });

    api.test('bad cleanup options throw ValidationError naming the option', async () => {
      await withEngine(harness, {}, async ({ chord }) => {
        const cases: Array<[unknown, string]> = [
          [{ batchSize: 0 }, 'options.batchSize'],
          [{ batchSize: 1.5 }, 'options.batchSize'],
          [{ deltaTtl: -1 }, 'options.deltaTtl'],
          [{ contextTtl: 'soon' }, 'options.contextTtl'],
          [{ deltaThreshold: -2 }, 'options.deltaThreshold'],
          [{ contextId: '' }, 'options.contextId'],
          [{ onProgress: 'yes' }, 'options.onProgress'],
          [{ deltaTTL: 5 }, 'options.deltaTTL'],
          ['all', 'options'],
        ];
        for (const [bad, argument] of cases) {
          await assert.rejects(chord.cleanup(bad as never), (error: unknown) => {
            assert.ok(error instanceof ValidationError, `${JSON.stringify(bad)}: ${String(error)}`);
            assert.equal(error.argument, argument);
            return true;
          });
        }
      });
    });

    if (suite.bulkCleanup) {
      api.test('with bulk cleanup, each step deletes in set-based batches until one comes back short', async () => {
        let calls = new Map<string, number>();
        const counted = (b: ChordBackend): ChordBackend => {
          const c = countingBackend(b);
          calls = c.calls;
          return c.backend;
        };
        await withEngine(harness, { wrap: counted }, async ({ chord, backend, clock }) => {
          assert.ok(hasBulkCleanup(backend), 'this test needs a backend with bulk cleanup');
          const prefix = freshId('bulk');
          // 5 idle contexts (1 delta each); 3 live ones with 4 old deltas each, then 4 new ones.
          for (let i = 0; i < 5; i++) await versions(chord, `${prefix}:idle${i}`, 1);
          for (let i = 0; i < 3; i++) await versions(chord, `${prefix}:live${i}`, 4);
          clock.advance(100);
          for (let i = 0; i < 3; i++) await versions(chord, `${prefix}:live${i}`, 4, 'new');
          clock.advance(10);
          calls.clear();
          const progress: Array<[CleanupStep, number]> = [];
          const result = await chord.cleanup({
            contextTtl: 50,
            deltaTtl: 50,
            deltaThreshold: 1,
            batchSize: 2,
            onProgress: (step, deleted) => void progress.push([step, deleted]),
          });
          // idle: 5 contexts + 5 deltas; expired: 12; beyond threshold: 3 × 3 = 9.
          assert.deepEqual(withoutDuration(result), report(5, 5, 12, 9));
          const batches = (deleted: number) => Math.floor(deleted / 2) + 1;
          assert.ok((calls.get('deleteIdleContexts') ?? 0) <= batches(5));
          assert.ok((calls.get('deleteDeltasOlderThan') ?? 0) <= batches(12));
          assert.ok((calls.get('deleteDeltasBeyondNewest') ?? 0) <= batches(9));
          assert.ok((calls.get('deleteDeltasOlderThan') ?? 0) >= 6, 'more rows than one batch need several batches');
          for (const method of PER_CONTEXT_METHODS) {
            assert.equal(calls.get(method) ?? 0, 0, `bulk cleanup must not call ${method}() per context`);
          }
          for (const step of ['idleContexts', 'expiredDeltas', 'deltasBeyondThreshold'] as const) {
            const seen = progress.filter(([s]) => s === step).map(([, n]) => n);
            assert.ok(seen.length >= 2, `progress for ${step}: ${JSON.stringify(seen)}`);
            assert.deepEqual([...seen].sort((a, b) => a - b), seen, `progress for ${step} never goes down`);
          }
          assert.deepEqual(progress.at(-1), ['deltasBeyondThreshold', 9]);
          assert.ok(progress.some(([s, n]) => s === 'idleContexts' && n === 5));
          assert.ok(progress.some(([s, n]) => s === 'expiredDeltas' && n === 12));
          // The steps run in order.
          const order = progress.map(([s]) => s).filter((s, i, all) => all[i - 1] !== s);
          assert.deepEqual(order, ['idleContexts', 'expiredDeltas', 'deltasBeyondThreshold']);
        });
      });
    }
  });
}
