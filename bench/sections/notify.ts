/**
 * What change notices cost writers. PostgreSQL's NOTIFY queues its message at commit under a
 * global lock, so every notifying transaction commits one at a time there. This section runs 16
 * concurrent writers (each on its own context, so no row lock is shared) making version writes
 * with the same statement PrismaBackend sends, in three forms:
 *
 * - `no notice`: the write alone (what chord-sync cost before live sync);
 * - `pg_notify in the statement`: the poke evaluated in the write's own RETURNING (what
 *   PrismaBackend does: the poke commits with the write, no extra round trip);
 * - `NOTIFY after commit`: the write, then `SELECT pg_notify(…)` as a second statement from the
 *   pool (one more round trip per write, and a poke lost if the process dies in between);
 * - `batched after commit`: the write alone, its poke queued; one statement at a time sends every
 *   queued poke (what PrismaBackend does for version writes, see PokeBatcher);
 * - `PrismaBackend.writeVersion`: the shipped method itself (validation and JSON included).
 *
 * One session LISTENs on the channel throughout, as a watching process would. Rounds alternate
 * the forms; the table gives writes per second and the per-write latency (p50, p99), median of
 * the rounds.
 */
import pg from 'pg';
import type { BenchDatabase } from '../lib/database.js';
import { markdownTable, median } from '../lib/measure.js';

export interface NotifyOptions {
  /** Concurrent writers, one connection and one context each. */
  readonly writers: number;
  /** Writes per writer per round. */
  readonly writes: number;
  /** Timed rounds per form (after one untimed warm-up round of each). */
  readonly rounds: number;
}

export const DEFAULT_NOTIFY: NotifyOptions = { writers: 16, writes: 300, rounds: 5 };

type Form = 'none' | 'inside' | 'after' | 'batched' | 'shipped';
const FORMS: ReadonlyArray<{ form: Form; label: string }> = [
  { form: 'none', label: 'no notice' },
  { form: 'inside', label: 'pg_notify in the write statement' },
  { form: 'after', label: 'NOTIFY after commit, one per write' },
  { form: 'batched', label: 'NOTIFY after commit, batched' },
  { form: 'shipped', label: 'PrismaBackend.writeVersion (batched)' },
];

const SCHEMA = 'chord_bench_notify';
const CHANNEL = `chord_sync:${SCHEMA}`;

function statements(form: Form): { write: string; notify: string; batch: string } {
  const c = `"${SCHEMA}"."chord_contexts"`;
  const d = `"${SCHEMA}"."chord_deltas"`;
  // As PrismaBackend builds it (src/backends/prisma/statements.ts, notifications.ts).
  const poke = `, (pg_notify('${CHANNEL}', json_build_array(context_id, version)::text) IS NULL) AS poked`;
  const write =
    `WITH ctx_row AS (UPDATE ${c} SET context = $2::jsonb, version = $4::bigint + 1, inserted_at = $5::bigint ` +
    `WHERE context_id = $1::text AND version = $4::bigint RETURNING context_id, version, inserted_at, epoch${form === 'inside' ? poke : ''}), ` +
    `delta_row AS (INSERT INTO ${d} AS t (context_id, delta, version, inserted_at) ` +
    `SELECT context_id, $3::jsonb, version, inserted_at FROM ctx_row ` +
    `ON CONFLICT (context_id, version) DO UPDATE SET delta = EXCLUDED.delta, inserted_at = EXCLUDED.inserted_at RETURNING version) ` +
    `SELECT (SELECT version FROM delta_row) AS written, (SELECT epoch FROM ctx_row) AS epoch, ` +
    `(SELECT version FROM ${c} WHERE context_id = $1::text) AS current`;
  return {
    write,
    notify: `SELECT pg_notify('${CHANNEL}', json_build_array($1::text, $2::bigint)::text) IS NULL AS poked`,
    batch: `SELECT count(*) AS n FROM json_array_elements_text($1::json) AS p(payload) WHERE pg_notify('${CHANNEL}', p.payload) IS NOT NULL`,
  };
}

interface RoundResult {
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** One batch statement in flight at a time, carrying every poke queued meanwhile (as PokeBatcher). */
function batcher(pool: pg.Pool, text: string): { add(id: string, version: number): void; flush(): Promise<void> } {
  const pending = new Map<string, number>();
  let draining: Promise<void> | undefined;
  const drain = async (): Promise<void> => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (pending.size > 0) {
      const payloads = JSON.stringify([...pending].map(([id, version]) => JSON.stringify([id, version])));
      pending.clear();
      await pool.query({ name: 'notify_bench_batch', text, values: [payloads] });
    }
    draining = undefined;
  };
  return {
    add(id, version) {
      pending.set(id, version);
      draining ??= drain();
    },
    async flush() {
      while (draining !== undefined) await draining;
    },
  };
}

/** The shipped write: `backend.writeVersion` of chord-sync's PrismaBackend on the same schema. */
export type WriteVersion = (contextId: string, context: Record<string, unknown>, delta: Record<string, unknown>, expected: number) => Promise<unknown>;

async function round(pool: pg.Pool, form: Form, options: NotifyOptions, versions: number[], shipped: WriteVersion): Promise<RoundResult> {
  const { write, notify, batch } = statements(form);
  const pokes = batcher(pool, batch);
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.writers }, async (_, w) => {
      const id = `writer:${w}`;
      for (let i = 0; i < options.writes; i++) {
        const expected = versions[w] as number;
        const t0 = performance.now();
        if (form === 'shipped') {
          await shipped(id, { n: expected + 1, w }, { s: { n: expected + 1 } }, expected);
          latencies.push(performance.now() - t0);
          versions[w] = expected + 1;
          continue;
        }
        const { rows } = await pool.query({
          name: `notify_bench_${form}`,
          text: write,
          values: [id, JSON.stringify({ n: expected + 1, w }), JSON.stringify({ s: { n: expected + 1 } }), String(expected), String(Date.now())],
        });
        if (rows[0]?.written === null || rows[0]?.written === undefined) throw new Error(`write of ${id} at ${expected} lost its compare-and-set`);
        if (form === 'after') await pool.query({ name: 'notify_bench_poke', text: notify, values: [id, String(expected + 1)] });
        if (form === 'batched') pokes.add(id, expected + 1);
        latencies.push(performance.now() - t0);
        versions[w] = expected + 1;
      }
    }),
  );
  await pokes.flush();
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { writesPerSecond: (options.writers * options.writes * 1000) / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99) };
}

/** Runs the section on `db` and returns its Markdown table (and the ratio of the shipped form). */
export async function runNotify(
  db: BenchDatabase,
  makeShipped: (url: string, schema: string, poolSize: number) => { writeVersion: WriteVersion; close(): Promise<void> },
  options: NotifyOptions = DEFAULT_NOTIFY,
  log: (line: string) => void = () => {},
): Promise<string> {
  await db.provision(SCHEMA);
  const backend = makeShipped(db.url, SCHEMA, options.writers);
  const pool = new pg.Pool({ connectionString: db.url, max: options.writers });
  pool.on('error', () => {});
  const listener = new pg.Client({ connectionString: db.url });
  let received = 0;
  listener.on('notification', () => {
    received++;
  });
  await listener.connect();
  await listener.query(`LISTEN "${CHANNEL}"`);
  try {
    const versions = Array.from({ length: options.writers }, () => 1);
    await db.admin.query(
      `INSERT INTO "${SCHEMA}"."chord_contexts" (context_id, context, version, inserted_at, epoch) ` +
        `SELECT 'writer:' || w, '{}'::jsonb, 1, 0, 'bench-' || w FROM generate_series(0, $1::int - 1) w`,
      [options.writers],
    );
    const results = new Map<Form, RoundResult[]>(FORMS.map(({ form }) => [form, []]));
    const shipped: WriteVersion = (id, context, delta, expected) => backend.writeVersion(id, context, delta, expected);
    for (const { form } of FORMS) await round(pool, form, { ...options, writes: Math.ceil(options.writes / 5) }, versions, shipped);
    for (let r = 0; r < options.rounds; r++) {
      // Alternating the order, so no form always runs on a warmer (or more bloated) table.
      const order = r % 2 === 0 ? FORMS : [...FORMS].reverse();
      for (const { form, label } of order) {
        const result = await round(pool, form, options, versions, shipped);
        results.get(form)?.push(result);
        log(`notify: round ${r + 1}/${options.rounds} ${label}: ${result.writesPerSecond.toFixed(0)} writes/s`);
      }
      await db.admin.query(`VACUUM "${SCHEMA}"."chord_contexts"`);
    }
    const base = median((results.get('none') ?? []).map((x) => x.writesPerSecond));
    const rows = FORMS.map(({ form, label }) => {
      const list = results.get(form) ?? [];
      const perSecond = median(list.map((x) => x.writesPerSecond));
      return [
        label,
        perSecond.toFixed(0),
        median(list.map((x) => x.p50Ms)).toFixed(2),
        median(list.map((x) => x.p99Ms)).toFixed(2),
        form === 'none' ? '1.00' : (base / perSecond).toFixed(2),
      ];
    });
    const table = markdownTable(
      [`${options.writers} writers × ${options.writes} version writes`, 'writes/s', 'p50 ms', 'p99 ms', 'time vs no notice'],
      rows,
      [false, true, true, true, true],
    );
    return `${table}\n\nNotices received by the listening session: ${received}.\n`;
  } finally {
    await backend.close().catch(() => {});
    await listener.end().catch(() => {});
    await pool.end().catch(() => {});
  }
}
