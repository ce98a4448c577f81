/**
 * MemoryBackend as it grows: the cost of one write to a new random id with 400k contexts stored
 * next to that with 10k (an ordered id index makes this O(log n); a sorted array made it O(n)),
 * and how long the event loop goes without a turn while `Chord.cleanup` deletes 150k idle
 * contexts, and while one listing walks every stored context.
 *
 * Times are CPU time of this process (`process.cpuUsage`), with wall time beside them: on a shared
 * machine a process waiting for a core runs up wall time that says nothing about the code.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Chord, MemoryBackend } from 'chord-sync';
import { seededContext } from '../lib/database.js';
import { formatRatio, formatUs, markdownTable, median } from '../lib/measure.js';

export interface MemoryScaleSizes {
  /** Contexts stored in the small backend. Default 10 000. */
  readonly smallContexts: number;
  /** Contexts stored in the large backend. Default 400 000. */
  readonly largeContexts: number;
  /** Idle contexts (one delta each) the cleanup deletes. Default 150 000. */
  readonly cleanupContexts: number;
}

export const DEFAULT_MEMORY_SCALE_SIZES: MemoryScaleSizes = {
  smallContexts: 10_000,
  largeContexts: 400_000,
  cleanupContexts: 150_000,
};

/** Writes per timed batch: enough that one batch at 400k takes well over a timer tick. */
const WRITES_PER_BATCH = 2000;

/** A small deterministic generator (xorshift32), so every run writes the same ids in the same order. */
function randomIds(seed: number): () => string {
  let x = seed | 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0).toString(16).padStart(8, '0');
  };
  return () => `ctx:${next()}${next()}`;
}

function label(contexts: number): string {
  return contexts >= 1000 ? `${contexts / 1000}k contexts` : `${contexts} contexts`;
}

interface Store {
  readonly label: string;
  readonly backend: MemoryBackend;
  readonly chord: Chord;
  readonly nextId: () => string;
  /** Ids the last timed batch wrote, removed (untimed) before the next so the size stays put. */
  written: string[];
}

async function seedStore(contexts: number, seed: number): Promise<Store> {
  const backend = new MemoryBackend();
  const nextId = randomIds(seed);
  // Seeded in ascending order, the one order the old sorted-array index inserted in O(1), so that
  // seeding stays quick whichever index is measured; the timed writes then land at random places.
  const ids = Array.from({ length: contexts }, nextId).sort();
  for (const id of ids) await backend.setContext(id, seededContext(id, 1), 1);
  return { label: label(contexts), backend, chord: new Chord({ backend }), nextId, written: [] };
}

async function removeWritten(store: Store): Promise<void> {
  for (const id of store.written) {
    await store.backend.deleteContext(id);
    await store.backend.deleteDeltasForContext(id);
  }
  store.written = [];
}

/** Microseconds of CPU time (user + system) this process has used. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

interface WriteCase {
  readonly name: string;
  readonly write: (s: Store, id: string, n: number) => Promise<unknown>;
}

interface BatchTime {
  readonly cpuUs: number;
  readonly wallUs: number;
}

/** One batch of writes to new ids, after removing (untimed) the last batch's; µs per write. */
async function timeBatch(store: Store, c: WriteCase): Promise<BatchTime> {
  await removeWritten(store);
  (globalThis as { gc?: () => void }).gc?.();
  const cpu = cpuMicros();
  const wall = performance.now();
  for (let n = 0; n < WRITES_PER_BATCH; n++) {
    const id = store.nextId();
    store.written.push(id);
    await c.write(store, id, n);
  }
  return { cpuUs: (cpuMicros() - cpu) / WRITES_PER_BATCH, wallUs: ((performance.now() - wall) * 1000) / WRITES_PER_BATCH };
}

/**
 * Per-write cost at the large size and at the small one: each round times one batch on each,
 * alternating which goes first; ratio = the median of the per-round ratios large ÷ small.
 */
export async function runMemoryWrites(sizes: MemoryScaleSizes, rounds: number, log: (line: string) => void): Promise<string> {
  let started = performance.now();
  const large = await seedStore(sizes.largeContexts, 0x9e3779b9);
  const small = await seedStore(sizes.smallContexts, 0x85ebca6b);
  log(`seeded ${sizes.largeContexts} + ${sizes.smallContexts} memory contexts in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const cases: WriteCase[] = [
    { name: 'MemoryBackend.setContext, new random id', write: (s, id, n) => s.backend.setContext(id, seededContext(id, n), 1) },
    { name: 'Chord.setContext (context + delta), new random id', write: (s, id, n) => s.chord.setContext(id, seededContext(id, n)) },
  ];
  started = performance.now();
  const rows: string[][] = [];
  for (const c of cases) {
    const big: BatchTime[] = [];
    const little: BatchTime[] = [];
    // One untimed warm-up round first, so the JIT has compiled both paths.
    for (let round = -1; round < rounds; round++) {
      const pair = round % 2 === 0 ? [await timeBatch(large, c), await timeBatch(small, c)] : [await timeBatch(small, c), await timeBatch(large, c)].reverse();
      if (round < 0) continue;
      big.push(pair[0] as BatchTime);
      little.push(pair[1] as BatchTime);
    }
    log(`memory writes: ${c.name} done`);
    const cpuRatio = median(big.map((b, r) => b.cpuUs / (little[r] as BatchTime).cpuUs));
    const wallRatio = median(big.map((b, r) => b.wallUs / (little[r] as BatchTime).wallUs));
    rows.push([
      c.name,
      formatUs(median(big.map((b) => b.cpuUs))),
      formatUs(median(little.map((b) => b.cpuUs))),
      formatRatio(cpuRatio),
      formatUs(median(big.map((b) => b.wallUs))),
      formatUs(median(little.map((b) => b.wallUs))),
      formatRatio(wallRatio),
    ]);
  }
  log(`memory writes timed in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const table = markdownTable(
    ['write', `${large.label} CPU µs`, `${small.label} CPU µs`, 'CPU ratio', `${large.label} wall µs`, `${small.label} wall µs`, 'wall ratio'],
    rows,
    [false, true, true, true, true, true, true],
  );
  return (
    `${table}\n\nµs per write, median of ${rounds} batches of ${WRITES_PER_BATCH}; ratio = ${large.label} ÷ ${small.label}, ` +
    `the median of the ${rounds} per-round ratios (1.00× = flat)`
  );
}

interface StallRun {
  readonly seconds: number;
  /** CPU time of the whole run, in seconds. */
  readonly cpuSeconds: number;
  /** The most CPU time the process used between two turns of the timer, in ms: the longest stall the code itself made. */
  readonly longestCpuBetweenTurnsMs: number;
  /** The longest time between two turns of a 1 ms interval timer, in ms (the run's longest stall). */
  readonly longestGapMs: number;
  /** Turns the interval timer got while the run was going. */
  readonly ticks: number;
  /** The largest event-loop delay `monitorEventLoopDelay` saw, in ms. */
  readonly maxDelayMs: number;
}

/** Runs `fn` while a 1 ms interval timer and `monitorEventLoopDelay` watch how long the loop is held. */
async function watchStalls(fn: () => Promise<unknown>): Promise<StallRun> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let lastCpu = cpuMicros();
  let longestGapMs = 0;
  let longestCpuUs = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = cpuMicros();
    longestGapMs = Math.max(longestGapMs, now - last);
    longestCpuUs = Math.max(longestCpuUs, cpu - lastCpu);
    last = now;
    lastCpu = cpu;
    ticks++;
  }, 1);
  // Let the timer and the histogram start before the run does: the histogram's first sample only
  // sets its baseline (reset() clears that too), so a run that blocks from the start would
  // otherwise record nothing.
  histogram.enable();
  await new Promise((resolve) => setTimeout(resolve, 20));
  ticks = 0;
  longestGapMs = 0;
  longestCpuUs = 0;
  last = performance.now();
  lastCpu = cpuMicros();
  const started = performance.now();
  const startedCpu = lastCpu;
  try {
    await fn();
    const ended = performance.now();
    const endedCpu = cpuMicros();
    // A run that never lets the timer fire stalls from its last turn to its end.
    longestGapMs = Math.max(longestGapMs, ended - last);
    longestCpuUs = Math.max(longestCpuUs, endedCpu - lastCpu);
    // The histogram records a delay when its timer next fires, so give it a few turns.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return {
      seconds: (ended - started) / 1000,
      cpuSeconds: (endedCpu - startedCpu) / 1e6,
      longestCpuBetweenTurnsMs: longestCpuUs / 1000,
      longestGapMs,
      ticks,
      maxDelayMs: histogram.max / 1e6,
    };
  } finally {
    clearInterval(timer);
    histogram.disable();
  }
}

/**
 * The longest event-loop stall during `Chord.cleanup` of `contexts` idle contexts (one delta
 * each), and during one `listContexts()` over the large store's contexts.
 */
export async function runMemoryStalls(sizes: MemoryScaleSizes, log: (line: string) => void): Promise<string> {
  let now = 1000;
  const backend = new MemoryBackend({ clock: () => now });
  const nextId = randomIds(0xc2b2ae35);
  let started = performance.now();
  for (let n = 0; n < sizes.cleanupContexts; n++) {
    await backend.writeVersion(nextId(), seededContext('idle', 1), { counter: [0, 1] }, 0);
  }
  log(`seeded ${sizes.cleanupContexts} idle memory contexts in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  now = 1_000_000;
  const chord = new Chord({ backend, clock: () => now, contextTtl: 1000, deltaTtl: null });
  let deleted = 0;
  const cleanup = await watchStalls(async () => {
    deleted = (await chord.cleanup()).contextsDeleted;
  });
  if (deleted !== sizes.cleanupContexts) throw new Error(`cleanup deleted ${deleted} of ${sizes.cleanupContexts} contexts`);
  log(`cleanup of ${deleted} idle contexts: ${cleanup.seconds.toFixed(1)} s`);

  started = performance.now();
  const listed = new MemoryBackend();
  const ids = Array.from({ length: sizes.largeContexts }, randomIds(0x27d4eb2f)).sort();
  for (const id of ids) await listed.setContext(id, seededContext(id, 1), 1);
  log(`seeded ${sizes.largeContexts} memory contexts for the listing in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  let count = 0;
  const listing = await watchStalls(async () => {
    count = (await listed.listContexts()).length;
  });
  if (count !== sizes.largeContexts) throw new Error(`listContexts returned ${count} of ${sizes.largeContexts} contexts`);

  const row = (name: string, r: StallRun) => [
    name,
    r.cpuSeconds.toFixed(2),
    r.seconds.toFixed(2),
    r.longestCpuBetweenTurnsMs.toFixed(1),
    r.longestGapMs.toFixed(0),
    r.maxDelayMs.toFixed(0),
    String(r.ticks),
  ];
  const table = markdownTable(
    ['run', 'CPU s', 'wall s', 'longest stall, CPU ms', 'longest stall, wall ms', 'max loop delay ms', 'timer turns'],
    [
      row(`Chord.cleanup(): ${sizes.cleanupContexts / 1000}k idle contexts, 1 delta each`, cleanup),
      row(`listContexts(): all ${sizes.largeContexts / 1000}k contexts`, listing),
    ],
    [false, true, true, true, true, true, true],
  );
  return (
    `${table}\n\nA 1 ms interval timer runs throughout. Longest stall: the most time (CPU, and wall) between two of its ` +
    `turns, or from its last turn to the end; max loop delay: monitorEventLoopDelay's largest sample.`
  );
}
