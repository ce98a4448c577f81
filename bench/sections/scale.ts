/**
 * Scale: the same keyed operations on a table of 10k deltas (100 contexts × 100) and one of 1M
 * (10k contexts × 100), timed interleaved like the ratio table; the ratio is 1M ÷ 10k. Then
 * cleanup throughput: 1M expired deltas deleted through `Chord.cleanup` (BulkCleanup batches),
 * and by the `pg` reference looping the same batch statement, with rows/s and peak RSS growth.
 */
import { Chord } from 'chord-sync';
import { PrismaBackend } from 'chord-sync/prisma';
import type { BenchDatabase } from '../lib/database.js';
import { analyze, seed, seededId } from '../lib/database.js';
import { type Case, markdownTable, measure, ratioTable } from '../lib/measure.js';
import { PgReference } from '../reference/pg-reference.js';

const DELTAS_PER_CONTEXT = 100;

export interface ScaleSizes {
  /** Contexts of the small table (× 100 deltas). Default 100 → 10k deltas. */
  readonly smallContexts: number;
  /** Contexts of the large table (× 100 deltas). Default 10 000 → 1M deltas. */
  readonly largeContexts: number;
}

function label(deltas: number): string {
  return deltas >= 1_000_000 ? `${deltas / 1_000_000}M deltas` : `${deltas / 1000}k deltas`;
}

async function seedScaleSchema(db: BenchDatabase, schema: string, contexts: number, deltaTime: number, deltasPerContext = DELTAS_PER_CONTEXT): Promise<number> {
  await db.provision(schema);
  const started = performance.now();
  await seed(db.admin, {
    schema,
    prefix: 'ctx:',
    contexts,
    version: deltasPerContext,
    deltasPerContext,
    contextTime: Date.now(),
    deltaTime,
  });
  await analyze(db.admin, schema);
  return (performance.now() - started) / 1000;
}

export async function runScale(db: BenchDatabase, sizes: ScaleSizes, rounds: number, log: (line: string) => void): Promise<string> {
  const small = sizes.smallContexts * DELTAS_PER_CONTEXT;
  const large = sizes.largeContexts * DELTAS_PER_CONTEXT;
  const seconds = await seedScaleSchema(db, 'scale_small', sizes.smallContexts, Date.now());
  log(`seeded ${small} deltas in ${seconds.toFixed(1)} s`);
  const secondsLarge = await seedScaleSchema(db, 'scale_large', sizes.largeContexts, Date.now());
  log(`seeded ${large} deltas in ${secondsLarge.toFixed(1)} s (set-based: two INSERT … SELECT generate_series statements)`);

  const largeBackend = new PrismaBackend({ connectionString: db.url, schema: 'scale_large' });
  const smallBackend = new PrismaBackend({ connectionString: db.url, schema: 'scale_small' });
  const sides = [
    { label: label(large), backend: largeBackend, chord: new Chord({ backend: largeBackend }), contexts: sizes.largeContexts },
    { label: label(small), backend: smallBackend, chord: new Chord({ backend: smallBackend }), contexts: sizes.smallContexts },
  ];
  const id = (contexts: number, i: number, round: number) => seededId('ctx:', (i * 7919 + round * 104_729) % contexts);
  const iterations = 50;
  const make = (name: string, run: (s: (typeof sides)[number], i: number, round: number) => Promise<unknown>): Case => ({
    name,
    iterations,
    sides: sides.map((s) => ({ label: s.label, run: (i: number, round: number) => run(s, i, round) })),
  });
  const cases = [
    make('getContext', (s, i, r) => s.backend.getContext(id(s.contexts, i, r))),
    make('getDeltas (5 of 100)', (s, i, r) => s.backend.getDeltas(id(s.contexts, i, r), DELTAS_PER_CONTEXT - 5)),
    make('syncContext (5 behind)', (s, i, r) => s.chord.syncContext(id(s.contexts, i, r), DELTAS_PER_CONTEXT - 5)),
    make('listContextsWithDeltaCounts (limit 100)', (s) => s.backend.listContextsWithDeltaCounts({ limit: 100 })),
    make('listContexts (limit 100)', (s) => s.backend.listContexts({ limit: 100 })),
    make('listDeltas (one id, limit 100)', (s, i, r) => s.backend.listDeltas({ contextId: id(s.contexts, i, r), limit: 100 })),
  ];
  try {
    const results = await measure(cases, { rounds, warmupRounds: 1 });
    const { table } = ratioTable(results);
    // The geometric mean line of ratioTable speaks of "÷ reference"; here the ratio is large ÷ small.
    return table.replace(/\n\ngeometric mean[\s\S]*$/, '') + `\n\nratio = ${label(large)} ÷ ${label(small)} (1.00× = flat)`;
  } finally {
    await largeBackend.close();
    await smallBackend.close();
  }
}

interface CleanupRun {
  readonly deleted: number;
  readonly seconds: number;
  readonly peakRssGrowthMb: number;
}

async function withRssSampling(fn: () => Promise<number>): Promise<CleanupRun> {
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 5);
  const started = performance.now();
  try {
    const deleted = await fn();
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, process.memoryUsage.rss());
    return { deleted, seconds, peakRssGrowthMb: (peak - baseline) / (1024 * 1024) };
  } finally {
    clearInterval(timer);
  }
}

/** Deltas per context in the threshold scenario: 50 more than the engine's default threshold of 100 keeps. */
const THRESHOLD_DELTAS_PER_CONTEXT = 150;
const KEEP = 100;

export async function runCleanup(db: BenchDatabase, contexts: number, batchSize: number, log: (line: string) => void): Promise<string> {
  const expiredAt = 1000;
  const total = contexts * DELTAS_PER_CONTEXT;
  for (const schema of ['cleanup_chord', 'cleanup_pg']) {
    const seconds = await seedScaleSchema(db, schema, contexts, expiredAt);
    log(`seeded ${total} expired deltas into ${schema} in ${seconds.toFixed(1)} s`);
  }
  for (const schema of ['threshold_chord', 'threshold_pg']) {
    const seconds = await seedScaleSchema(db, schema, contexts, Date.now(), THRESHOLD_DELTAS_PER_CONTEXT);
    log(`seeded ${contexts} contexts × ${THRESHOLD_DELTAS_PER_CONTEXT} deltas into ${schema} in ${seconds.toFixed(1)} s`);
  }
  const backend = new PrismaBackend({ connectionString: db.url, schema: 'cleanup_chord' });
  const reference = new PgReference(db.url, 'cleanup_pg');
  const thresholdBackend = new PrismaBackend({ connectionString: db.url, schema: 'threshold_chord' });
  const thresholdReference = new PgReference(db.url, 'threshold_pg');
  try {
    // deltaTtl 1: every delta stamped at time 1000 is expired; contexts are kept (contextTtl null).
    const chord = new Chord({ backend, deltaTtl: 1, contextTtl: null, deltaThreshold: KEEP });
    const chordRun = await withRssSampling(async () => (await chord.cleanup({ batchSize })).deltasDeleted.total);
    // The same statements as the engine's run: expired deltas, then (nothing left to do here, but
    // it scans) deltas beyond the newest KEEP; batches until one comes back short.
    const pgRun = await withRssSampling(async () => {
      let deleted = 0;
      for (;;) {
        const n = await reference.deleteDeltasOlderThan(Date.now() - 1, batchSize);
        deleted += n;
        if (n < batchSize) break;
      }
      for (;;) {
        const n = await reference.deleteDeltasBeyondNewest(KEEP, batchSize);
        deleted += n;
        if (n < batchSize) break;
      }
      return deleted;
    });
    // Nothing expired (deltaTtl null): only the deltas beyond the newest KEEP of each context go.
    const thresholdChord = new Chord({ backend: thresholdBackend, deltaTtl: null, contextTtl: null, deltaThreshold: KEEP });
    const thresholdChordRun = await withRssSampling(async () => (await thresholdChord.cleanup({ batchSize })).deltasDeleted.total);
    const thresholdPgRun = await withRssSampling(async () => {
      let deleted = 0;
      for (;;) {
        const n = await thresholdReference.deleteDeltasBeyondNewest(KEEP, batchSize);
        deleted += n;
        if (n < batchSize) break;
      }
      return deleted;
    });
    const row = (name: string, r: CleanupRun) => [
      name,
      String(r.deleted),
      r.seconds.toFixed(2),
      Math.round(r.deleted / r.seconds).toLocaleString('en-US'),
      r.peakRssGrowthMb.toFixed(1),
    ];
    const threshold = `${contexts} contexts × ${THRESHOLD_DELTAS_PER_CONTEXT}, keep ${KEEP}`;
    return (
      markdownTable(
        ['cleanup', 'rows deleted', 'seconds', 'rows/s', 'peak RSS growth MB'],
        [
          row(`expired: Chord.cleanup (batchSize ${batchSize})`, chordRun),
          row('expired: pg, the same statements in a loop', pgRun),
          row(`beyond threshold (${threshold}): Chord.cleanup`, thresholdChordRun),
          row('beyond threshold: pg, the same statement in a loop', thresholdPgRun),
        ],
        [false, true, true, true, true],
      ) +
      `\n\nChord.cleanup ÷ pg time: expired ${(chordRun.seconds / pgRun.seconds).toFixed(2)}×, ` +
      `beyond threshold ${(thresholdChordRun.seconds / thresholdPgRun.seconds).toFixed(2)}×`
    );
  } finally {
    await backend.close();
    await reference.close();
    await thresholdBackend.close();
    await thresholdReference.close();
  }
}
