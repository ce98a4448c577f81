/**
 * Sync at fan-out scale (issue 10): N simulated clients of one 69 KiB "dashboard" context that is
 * written R times a second. Clients start at random recent versions (within the delta threshold);
 * after every write each client syncs from the version it holds, through a pool of `concurrency`
 * syncs in flight (a client still waiting in the queue is not queued twice: its sync, when it
 * runs, catches up to whatever is current). No sync starts while a write runs. Reported per
 * side: syncs per second of the time no write ran (the offered load when it keeps up, its capacity
 * when it does not), the mean time of a write, p50/p99 of one sync call, how many writes every
 * client had caught up with within one write interval, and this process's CPU per sync, writes
 * included (the database's own CPU is not in it).
 *
 * chord-sync (`Chord.syncContext` on MemoryBackend / PrismaBackend `{ connectionString }`) against
 * a lean hand-written reference: on memory a `Map` holding JSON text that parses only what it
 * returns and merges deltas with `mergeDeltas`; on PostgreSQL one `pg` statement per sync that
 * returns the context only for a full answer, else the deltas as JSON. Sides alternate order by
 * round; the table gives medians over the rounds.
 *
 * Then the no-change sync on the same context: `chord.syncContext(id, current)` against a naive
 * Map engine's answer, timed with the interleaved ratio harness.
 */
import { Chord, MemoryBackend, calculateDelta, mergeDeltas } from 'chord-sync';
import type { Delta, JsonObject } from 'chord-sync';
import { PrismaBackend } from 'chord-sync/prisma';
import pg from 'pg';
import { type BenchDatabase, quoteIdent } from '../lib/database.js';
import { formatRatio, formatUs, markdownTable, measure, median } from '../lib/measure.js';

export interface SyncFanoutOptions {
  readonly clientCounts: readonly number[];
  /** Writes per run. */
  readonly writes: number;
  /** Writes per second. */
  readonly rate: number;
  /** Syncs in flight at once. */
  readonly concurrency: number;
  /** Rounds per (backend, clients), the two sides alternating which goes first. */
  readonly rounds: number;
  /** Timed rounds of the no-change table. */
  readonly noChangeRounds: number;
}

export const DEFAULT_SYNC_FANOUT: SyncFanoutOptions = { clientCounts: [1000, 10_000], writes: 10, rate: 10, concurrency: 64, rounds: 3, noChangeRounds: 21 };

/** The engine's default `deltaThreshold`; clients start at most this many versions behind. */
const THRESHOLD = 100;
const METRICS = 1000;
const CHANGES_PER_WRITE = 10;
const POOL_SIZE = 10;

/** The dashboard: 1,000 metrics of four fields, 69.7 KiB of JSON. */
function dashboard(): JsonObject {
  const board: JsonObject = {};
  for (let i = 0; i < METRICS; i++) {
    board[`metric${i}`] = { value: i * 3, unit: 'msec', label: `Metric ${i}`, ok: true };
  }
  return board;
}

/** The w-th write (w counts across runs): ten metrics change value and status. */
function nextBoard(board: JsonObject, w: number): JsonObject {
  const next: JsonObject = { ...board };
  for (let k = 0; k < CHANGES_PER_WRITE; k++) {
    const i = (w * 97 + k * 101) % METRICS;
    const old = board[`metric${i}`] as JsonObject;
    next[`metric${i}`] = { ...old, value: w * 10 + k, ok: (w + k) % 3 !== 0 };
  }
  return next;
}

interface SyncSide {
  readonly label: string;
  /** Writes the next board; resolves to the new version. */
  write(): Promise<number>;
  /** One client's sync from `clientVersion`; resolves to the version it then holds. */
  sync(clientVersion: number): Promise<number>;
  /** The current version. */
  readonly version: number;
}

/** A writer of successive boards shared by a side: keeps the board it last wrote. */
class Boards {
  #board = dashboard();
  #w = 0;
  next(): JsonObject {
    this.#board = nextBoard(this.#board, this.#w++);
    return this.#board;
  }
  get current(): JsonObject {
    return this.#board;
  }
}

function chordSide(label: string, chord: Chord, id: string): SyncSide & { seed(): Promise<void> } {
  const boards = new Boards();
  let version = 0;
  return {
    label,
    get version() {
      return version;
    },
    async seed() {
      version = (await chord.setContext(id, boards.current)).context.version;
    },
    async write() {
      version = (await chord.setContext(id, boards.next())).context.version;
      return version;
    },
    async sync(clientVersion) {
      const answer = await chord.syncContext(id, clientVersion);
      return answer.kind === 'full' ? answer.context.version : answer.version;
    },
  };
}

/** The memory reference: a Map of JSON text; parses only what a sync returns. */
function mapSide(): SyncSide & { seed(): Promise<void> } {
  const boards = new Boards();
  const store = new Map<string, { version: number; json: string; deltas: string[] }>();
  const id = 'dash';
  return {
    label: 'Map + JSON text',
    get version() {
      return store.get(id)?.version ?? 0;
    },
    async seed() {
      store.set(id, { version: 0, json: JSON.stringify(boards.current), deltas: [] });
    },
    async write() {
      const after = boards.next();
      const record = store.get(id)!;
      // What it holds is text: the delta is taken against the stored state, parsed (as the engine does).
      const before = JSON.parse(record.json) as JsonObject;
      record.deltas[record.version + 1] = JSON.stringify(calculateDelta(before, after));
      record.json = JSON.stringify(after);
      record.version++;
      return record.version;
    },
    async sync(clientVersion) {
      const record = store.get(id);
      if (record === undefined) throw new Error(`no context ${id}`);
      const { version } = record;
      if (clientVersion === version) return version;
      const behind = version - clientVersion;
      if (behind > 0 && behind <= THRESHOLD) {
        const texts = record.deltas.slice(clientVersion + 1, version + 1);
        let size = 0;
        for (const t of texts) size += t.length;
        if (size <= record.json.length) {
          const deltas = texts.map((t) => JSON.parse(t) as Delta);
          const delta = deltas.length === 1 ? deltas[0] : mergeDeltas(deltas);
          if (delta === undefined) throw new Error('no delta');
          return version;
        }
      }
      JSON.parse(record.json);
      return version;
    },
  };
}

/** The PostgreSQL reference: hand-written statements on chord-sync's own tables (another id). */
function pgSide(url: string, schema: string): SyncSide & { seed(chord: Chord): Promise<void>; close(): Promise<void> } {
  const boards = new Boards();
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE });
  pool.on('error', () => {});
  const c = `${quoteIdent(schema)}."chord_contexts"`;
  const d = `${quoteIdent(schema)}."chord_deltas"`;
  const id = 'dash:pg';
  let version = 0;
  const write = {
    name: 'ref_sync_write',
    text:
      `WITH c AS (UPDATE ${c} SET context = $2::jsonb, version = version + 1, inserted_at = $4::bigint WHERE context_id = $1::text ` +
      `RETURNING context_id, version, inserted_at) INSERT INTO ${d} (context_id, delta, version, inserted_at) ` +
      `SELECT context_id, $3::jsonb, version, inserted_at FROM c RETURNING version`,
  };
  const current = { name: 'ref_sync_current', text: `SELECT context::text AS context FROM ${c} WHERE context_id = $1::text` };
  const read = {
    name: 'ref_sync_read',
    text:
      `WITH h AS (SELECT version FROM ${c} WHERE context_id = $1::text), ` +
      `d AS (SELECT count(*) AS n, json_agg(x.delta ORDER BY x.version)::text AS deltas FROM ${d} x, h ` +
      `WHERE x.context_id = $1::text AND x.version > $2::bigint AND x.version <= h.version AND h.version - $2::bigint BETWEEN 1 AND $3::bigint) ` +
      `SELECT h.version, CASE WHEN d.n > 0 AND d.n = h.version - $2::bigint THEN d.deltas END AS deltas, ` +
      `CASE WHEN h.version <> $2::bigint AND NOT (d.n > 0 AND d.n = h.version - $2::bigint) ` +
      `THEN (SELECT context::text FROM ${c} WHERE context_id = $1::text) END AS context FROM h, d`,
  };
  return {
    label: 'pg, one statement',
    get version() {
      return version;
    },
    async seed(chord) {
      version = (await chord.setContext(id, boards.current)).context.version;
    },
    async write() {
      const after = boards.next();
      // The delta is taken against the stored state, read first (as the engine does).
      const { rows: stored } = await pool.query<{ context: string }>({ ...current, values: [id] });
      const delta = calculateDelta(JSON.parse(stored[0]!.context) as JsonObject, after);
      const { rows } = await pool.query<{ version: string }>({ ...write, values: [id, JSON.stringify(after), JSON.stringify(delta), Date.now()] });
      version = Number(rows[0]!.version);
      return version;
    },
    async sync(clientVersion) {
      const { rows } = await pool.query<{ version: string; deltas: string | null; context: string | null }>({ ...read, values: [id, clientVersion, THRESHOLD] });
      const row = rows[0];
      if (row === undefined) throw new Error(`no context ${id}`);
      if (row.deltas !== null) {
        const deltas = JSON.parse(row.deltas) as Delta[];
        if (deltas.length > 1) mergeDeltas(deltas);
      } else if (row.context !== null) {
        JSON.parse(row.context);
      }
      return Number(row.version);
    },
    close: () => pool.end(),
  };
}

interface RunResult {
  /** Syncs per second of the time no write was running (writes pause new syncs, on both sides). */
  readonly syncsPerSecond: number;
  /** Mean wall time of one write. */
  readonly writeMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly keptUp: number;
  readonly cpuUsPerSync: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

/**
 * One run: `writes` writes at `rate`/s, every client syncing after each, for `writes` intervals
 * (then the syncs in flight finish and the run ends: a side that falls behind is measured at its
 * capacity and never drains a backlog for long). Writes are started by whichever worker sees one
 * due (and by idle workers polling each millisecond), so a side whose syncs never yield to timers
 * (all in microtasks, as on memory) still gets its writes on time.
 */
async function run(side: SyncSide, clients: number, options: SyncFanoutOptions): Promise<RunResult> {
  const interval = 1000 / options.rate;
  const held = new Float64Array(clients);
  const current = side.version;
  for (let i = 0; i < clients; i++) held[i] = current - Math.floor(Math.random() * THRESHOLD);
  const queue = new Int32Array(clients);
  let head = 0;
  let size = 0;
  const queued = new Uint8Array(clients);
  const latencies: number[] = [];
  let written = 0;
  let writing = false;
  let latest = current;
  let behind = 0;
  let lastWriteAt = 0;
  let writeMs = 0;
  let keptUp = 0;
  let failure: unknown;
  const started = performance.now();
  const deadline = started + options.writes * interval;
  const cpuStarted = process.cpuUsage();

  const write = async (): Promise<void> => {
    try {
      const writeStarted = performance.now();
      const version = await side.write();
      lastWriteAt = performance.now();
      writeMs += lastWriteAt - writeStarted;
      written++;
      latest = version;
      behind = clients;
      for (let i = 0; i < clients; i++) {
        if (queued[i] === 1) continue;
        queued[i] = 1;
        queue[(head + size) % clients] = i;
        size++;
      }
    } catch (error) {
      failure ??= error;
    } finally {
      writing = false;
    }
  };
  const tick = (): void => {
    if (!writing && written < options.writes && performance.now() >= started + written * interval) {
      writing = true;
      void write();
    }
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failure !== undefined || performance.now() >= deadline) return;
      tick();
      // No sync starts while a write runs: on memory a write is CPU that syncs would interleave
      // with, so its time is set apart, and the table compares the syncs of the two sides alone.
      if (size === 0 || writing) {
        await sleep(1);
        continue;
      }
      const client = queue[head] as number;
      head = (head + 1) % clients;
      size--;
      queued[client] = 0;
      const t0 = performance.now();
      const reached = await side.sync(held[client] as number);
      const t1 = performance.now();
      latencies.push(t1 - t0);
      const before = held[client] as number;
      held[client] = reached;
      if (before < latest && reached >= latest && --behind === 0 && t1 - lastWriteAt <= interval) keptUp++;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  // A write still running belongs to this run: the next starts from its version.
  while (writing) await sleep(1);
  if (failure !== undefined) throw failure;
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuStarted);
  const sorted = Float64Array.from(latencies).sort();
  return {
    syncsPerSecond: (latencies.length / (elapsed - writeMs)) * 1000,
    writeMs: writeMs / Math.max(1, written),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    keptUp,
    cpuUsPerSync: (cpu.user + cpu.system) / latencies.length,
  };
}

async function seedVersions(side: SyncSide): Promise<void> {
  // Enough history that every client's starting version has all its deltas stored.
  for (let i = 0; i < THRESHOLD; i++) await side.write();
}

interface Row {
  readonly backend: string;
  readonly clients: number;
  readonly label: string;
  readonly results: RunResult[];
  ratios: number[];
}

function medianOf(results: readonly RunResult[], key: keyof RunResult): number {
  return median(results.map((r) => r[key]));
}

/** The fan-out table and the no-change table, as Markdown. */
export async function runSyncFanout(db: BenchDatabase, options: SyncFanoutOptions, log: (line: string) => void): Promise<string> {
  const schema = 'sync_fanout';
  await db.provision(schema);
  const prisma = new PrismaBackend({ connectionString: db.url, schema, poolSize: POOL_SIZE });
  const pgRef = pgSide(db.url, schema);
  const rows: Row[] = [];
  try {
    const memoryChord = chordSide('chord-sync', new Chord({ backend: new MemoryBackend() }), 'dash');
    const memoryRef = mapSide();
    const pgChord = new Chord({ backend: prisma });
    const postgresChord = chordSide('chord-sync', pgChord, 'dash:chord');
    await Promise.all([memoryChord.seed(), memoryRef.seed(), postgresChord.seed(), pgRef.seed(pgChord)]);
    for (const side of [memoryChord, memoryRef, postgresChord, pgRef]) await seedVersions(side);
    const pairs: [string, SyncSide, SyncSide][] = [
      ['memory', memoryChord, memoryRef],
      ['PostgreSQL', postgresChord, pgRef],
    ];
    for (const [backend, subject, reference] of pairs) {
      for (const clients of options.clientCounts) {
        const subjectRow: Row = { backend, clients, label: subject.label, results: [], ratios: [] };
        const referenceRow: Row = { backend, clients, label: reference.label, results: [], ratios: [] };
        // One untimed warm-up run per side, then alternating order.
        await run(subject, Math.min(clients, 1000), { ...options, writes: 3 });
        await run(reference, Math.min(clients, 1000), { ...options, writes: 3 });
        for (let round = 0; round < options.rounds; round++) {
          const order = round % 2 === 0 ? [subjectRow, referenceRow] : [referenceRow, subjectRow];
          for (const row of order) {
            const side = row === subjectRow ? subject : reference;
            (row.results as RunResult[]).push(await run(side, clients, options));
          }
          const s = subjectRow.results[round]!;
          const r = referenceRow.results[round]!;
          subjectRow.ratios.push(s.syncsPerSecond / r.syncsPerSecond);
          log(`sync fan-out ${backend}, ${clients} clients: round ${round + 1}/${options.rounds} (${Math.round(s.syncsPerSecond)} vs ${Math.round(r.syncsPerSecond)} syncs/s)`);
        }
        rows.push(subjectRow, referenceRow);
      }
    }
  } finally {
    await prisma.close();
    await pgRef.close();
  }
  const table = markdownTable(
    ['backend', 'clients', 'side', 'syncs/s (not writing)', 'throughput ratio', 'ms/write', 'p50 ms', 'p99 ms', `writes all caught up with in ${1000 / options.rate} ms`, 'CPU µs/sync'],
    rows.map((row) => [
      row.backend,
      row.clients.toLocaleString('en-US'),
      row.label,
      Math.round(medianOf(row.results, 'syncsPerSecond')).toLocaleString('en-US'),
      row.ratios.length > 0 ? formatRatio(median(row.ratios)) : '1',
      medianOf(row.results, 'writeMs').toFixed(1),
      medianOf(row.results, 'p50Ms').toFixed(2),
      medianOf(row.results, 'p99Ms').toFixed(2),
      `${Math.round(medianOf(row.results, 'keptUp'))}/${options.writes}`,
      formatUs(medianOf(row.results, 'cpuUsPerSync')),
    ]),
    [false, true, false, true, true, true, true, true, true, true],
  );
  return `${table}\n\n### No-change sync on the 69 KiB context (memory)\n\n${await noChange(options.noChangeRounds, log)}`;
}

/** `chord.syncContext(id, current)` against a naive Map engine's no-change answer. */
async function noChange(rounds: number, log: (line: string) => void): Promise<string> {
  const chord = new Chord({ backend: new MemoryBackend() });
  const board = dashboard();
  const { version } = (await chord.setContext('dash', board)).context;
  const records = new Map<string, { context: JsonObject; version: number }>([['dash', { context: board, version }]]);
  const naive = async (id: string, clientVersion: number): Promise<{ kind: 'no_change'; version: number } | { kind: 'full'; context: JsonObject }> => {
    const record = records.get(id);
    if (record === undefined) throw new Error(`no context ${id}`);
    return record.version === clientVersion ? { kind: 'no_change', version: record.version } : { kind: 'full', context: record.context };
  };
  const iterations = 20_000;
  const [result] = await measure(
    [
      {
        name: 'no-change sync, 69 KiB context',
        iterations,
        sides: [
          { label: 'chord-sync', run: () => chord.syncContext('dash', version) },
          { label: 'naive Map', run: () => naive('dash', version) },
        ],
      },
    ],
    { rounds, warmupRounds: 1, onRound: (r, n) => (r === n ? log(`no-change sync: ${n} rounds`) : undefined) },
  );
  const [subject, reference] = result!.sides;
  return markdownTable(
    ['operation', 'chord-sync µs/op', 'naive Map µs/op', 'ratio'],
    [[result!.name, formatUs(subject!.medianUs), formatUs(reference!.medianUs), formatRatio(subject!.ratio)]],
    [false, true, true, true],
  );
}
