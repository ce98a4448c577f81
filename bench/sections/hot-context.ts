/**
 * Hot contexts (issue 8.5): N concurrent `updateContext` calls on one context from one process.
 * "Before" is what the engine did without its per-context write queue: every call read, computed
 * and compare-and-set on its own, retrying lost races (one `Chord` per call reproduces that, since
 * the queue is per `Chord`). "After" is one `Chord`, whose writes to a context go one at a time.
 * Reported: writes that gave up, and landed writes per second, side by side in one run.
 */
import { Chord, MemoryBackend, type ChordBackend } from 'chord-sync';
import { PrismaBackend } from 'chord-sync/prisma';

export interface HotContextRow {
  readonly backend: string;
  readonly mode: 'before (no queue)' | 'after (queued)';
  readonly calls: number;
  readonly gaveUp: number;
  readonly writesPerSecond: number;
}

async function burst(backend: ChordBackend, queued: boolean, calls: number, contextId: string): Promise<{ gaveUp: number; ms: number }> {
  const shared = new Chord({ backend });
  await shared.setContext(contextId, { start: true });
  const started = performance.now();
  const outcomes = await Promise.allSettled(
    Array.from({ length: calls }, (_, i) => (queued ? shared : new Chord({ backend })).updateContext(contextId, { [`k${i}`]: i })),
  );
  const ms = performance.now() - started;
  return { gaveUp: outcomes.filter((o) => o.status === 'rejected').length, ms };
}

/** Runs the burst on memory and on PostgreSQL (schema `schema` of `url`, provisioned by the caller). */
export async function runHotContext(url: string, schema: string, calls = 500): Promise<string> {
  const rows: HotContextRow[] = [];
  const pgBackend = new PrismaBackend({ connectionString: url, schema, poolSize: 10 });
  try {
    for (const [name, backend] of [['memory', new MemoryBackend()], ['PostgreSQL', pgBackend]] as const) {
      for (const queued of [false, true]) {
        const { gaveUp, ms } = await burst(backend, queued, calls, `hot:${name}:${queued}`);
        rows.push({
          backend: name,
          mode: queued ? 'after (queued)' : 'before (no queue)',
          calls,
          gaveUp,
          writesPerSecond: Math.round(((calls - gaveUp) / ms) * 1000),
        });
      }
    }
  } finally {
    await pgBackend.close();
  }
  const lines = ['| backend | engine | concurrent calls | gave up | landed writes/s |', '|---|---|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${r.backend} | ${r.mode} | ${r.calls} | ${r.gaveUp} | ${r.writesPerSecond} |`);
  return lines.join('\n');
}
