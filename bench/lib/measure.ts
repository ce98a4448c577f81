/**
 * Interleaved, paired timing. Every round times each case once per side, in alternating order
 * (round 1: subject first, round 2: reference first, …), so slow drift of a shared machine hits
 * both sides alike. A sample is the mean time of one batch of `iterations` sequential calls.
 * Reported: per side the median of its samples, and per case the median of the per-round
 * ratios subject ÷ reference (pairs timed seconds apart, so noise that moves both cancels).
 */

/** One implementation of an operation. */
export interface Side {
  /** Column label, e.g. `chord-sync` or `pg`. */
  readonly label: string;
  /** Untimed work before a batch (e.g. seeding the rows a batch of deletes will remove). */
  readonly prepare?: (round: number, iterations: number) => Promise<void>;
  /** The timed operation; `i` is the call's index in its batch. */
  readonly run: (i: number, round: number) => Promise<unknown>;
}

/** One operation measured on several sides; the first is the subject, the second the reference. */
export interface Case {
  readonly name: string;
  readonly iterations: number;
  readonly sides: readonly Side[];
  /** Whether the case counts in the geometric mean (default true). */
  readonly inGeomean?: boolean;
}

export interface SideResult {
  readonly label: string;
  /** Median over the rounds of the mean µs per call in a batch. */
  readonly medianUs: number;
  readonly samplesUs: readonly number[];
  /** Median over the rounds of this side's time ÷ the reference's time in the same round (the reference: 1). */
  readonly ratio: number;
}

export interface CaseResult {
  readonly name: string;
  readonly inGeomean: boolean;
  readonly sides: readonly SideResult[];
}

export interface MeasureOptions {
  readonly rounds: number;
  /** Untimed rounds first, so connections, prepared statements and the JIT are warm. */
  readonly warmupRounds: number;
  readonly onRound?: (round: number, rounds: number) => void;
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function geometricMean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length);
}

async function timeBatch(side: Side, iterations: number, round: number): Promise<number> {
  await side.prepare?.(round, iterations);
  // A collection now rather than inside the timed batch; the batch's own garbage still counts.
  gc?.();
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await side.run(i, round);
  return ((performance.now() - started) * 1000) / iterations;
}

/** Runs every case for `warmupRounds + rounds` rounds, interleaved; returns the timed rounds' results. */
export async function measure(cases: readonly Case[], options: MeasureOptions): Promise<CaseResult[]> {
  const samples = cases.map((c) => c.sides.map(() => [] as number[]));
  const total = options.warmupRounds + options.rounds;
  for (let round = 0; round < total; round++) {
    const timed = round >= options.warmupRounds;
    for (const [ci, c] of cases.entries()) {
      const order = c.sides.map((_, i) => i);
      if (round % 2 === 1) order.reverse();
      for (const si of order) {
        const us = await timeBatch(c.sides[si] as Side, c.iterations, round);
        if (timed) samples[ci]![si]!.push(us);
      }
    }
    if (timed) options.onRound?.(round - options.warmupRounds + 1, options.rounds);
  }
  return cases.map((c, ci) => {
    const perSide = samples[ci]!;
    const reference = perSide[1] ?? perSide[0]!;
    return {
      name: c.name,
      inGeomean: c.inGeomean ?? true,
      sides: c.sides.map((side, si) => {
        const own = perSide[si]!;
        return {
          label: side.label,
          medianUs: median(own),
          samplesUs: own,
          ratio: median(own.map((us, r) => us / (reference[r] as number))),
        };
      }),
    };
  });
}

/** A fixed-width number: µs with 1 decimal below 100, else whole. */
export function formatUs(us: number): string {
  if (!Number.isFinite(us)) return '–';
  return us < 100 ? us.toFixed(1) : Math.round(us).toString();
}

export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–';
}

/** A Markdown table, columns padded so it also reads well in a terminal. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], alignRight: readonly boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, i) => (alignRight[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (alignRight[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/**
 * The results as a table: per side µs/op, and per side after the reference its ratio to the
 * reference; then the geometric mean and the worst ratio of the subject over the cases marked for it.
 */
export function ratioTable(results: readonly CaseResult[]): { table: string; geomean: number; worst: { name: string; ratio: number } } {
  const first = results[0];
  if (first === undefined) return { table: '(no cases)', geomean: Number.NaN, worst: { name: '', ratio: Number.NaN } };
  const labels = first.sides.map((s) => s.label);
  const header = ['operation'];
  const align = [false];
  labels.forEach((label, i) => {
    header.push(`${label} µs/op`);
    align.push(true);
    if (i !== 1) {
      header.push(i === 0 ? 'ratio' : `${label} ratio`);
      align.push(true);
    }
  });
  const rows = results.map((r) => {
    const row = [r.inGeomean ? r.name : `${r.name} †`];
    r.sides.forEach((s, i) => {
      row.push(formatUs(s.medianUs));
      if (i !== 1) row.push(formatRatio(s.ratio));
    });
    return row;
  });
  const counted = results.filter((r) => r.inGeomean);
  const subjectRatios = counted.map((r) => r.sides[0]!.ratio);
  const geomean = geometricMean(subjectRatios);
  let worst = { name: '', ratio: Number.NEGATIVE_INFINITY };
  for (const r of counted) if (r.sides[0]!.ratio > worst.ratio) worst = { name: r.name, ratio: r.sides[0]!.ratio };
  const extraGeomeans = labels.slice(2).map((label, k) => `${label}: ${formatRatio(geometricMean(counted.map((r) => r.sides[k + 2]!.ratio)))}`);
  const summary =
    `geometric mean of ${labels[0]} ÷ ${labels[1]} over ${counted.length} operations: ${formatRatio(geomean)}; ` +
    `worst: ${formatRatio(worst.ratio)} (${worst.name})` +
    (extraGeomeans.length > 0 ? `\ngeometric mean of the other columns ÷ ${labels[1]}: ${extraGeomeans.join(', ')}` : '');
  return { table: `${markdownTable(header, rows, align)}\n\n${summary}`, geomean, worst };
}
