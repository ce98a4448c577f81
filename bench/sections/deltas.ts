/**
 * The delta functions against their peers on five documents, timed side by side in one run:
 * calculateDelta vs fast-json-patch's compare (the reference), jsondiffpatch's diff and microdiff;
 * applyDelta (the wire delta, as a client gets it) vs an immutable fast-json-patch apply (copy the
 * objects on each patched path, then applyPatch on the copy); and the bytes each sends.
 *
 * Each new document is an independent copy (JSON round trip), as a write from a client is: no
 * side gets to skip a subtree because both documents share it.
 */
import { applyDelta, calculateDelta, toWireDelta } from 'chord-sync';
import type { Delta, Json, JsonObject } from 'chord-sync';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { create as createDiffPatcher } from 'jsondiffpatch';
import microdiff from 'microdiff';
import { type Case, type CaseResult, formatRatio, formatUs, geometricMean, markdownTable, measure } from '../lib/measure.js';

interface DeltaDocument {
  readonly name: string;
  readonly before: JsonObject;
  readonly after: JsonObject;
  /** Calls per timed batch, so every batch runs long enough to time (small documents take ~1 µs). */
  readonly repeat: number;
}

function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function presence(): DeltaDocument {
  const before: JsonObject = {
    userId: 'user:4711', name: 'Ada Lovelace', status: 'online', lastSeen: 1_764_000_000_000, room: 'room:42',
    device: 'web', typing: false, color: '#ff8800', avatar: 'https://example.com/a/4711.png', cursor: { x: 120, y: 480 },
  };
  const after = copy(before);
  after.status = 'away';
  after.lastSeen = 1_764_000_030_000;
  return { name: 'presence (10 keys, 2 changes)', before, after, repeat: 400 };
}

function dashboard(): DeltaDocument {
  const before: JsonObject = {};
  for (let i = 0; i < 1000; i++) before[`metric${i}`] = { value: i * 3, unit: 'ms', label: `Metric ${i}`, ok: true };
  const after = copy(before);
  for (let i = 0; i < 1000; i += 100) (after[`metric${i}`] as JsonObject).value = -i;
  return { name: 'dashboard (1,000 keys, 10 changes)', before, after, repeat: 4 };
}

function deep(): DeltaDocument {
  const before: JsonObject = { leaf: 0, note: 'bottom' };
  let here = before;
  for (let level = 29; level >= 1; level--) {
    here = { [`level${level}`]: here, [`side${level}`]: { n: level } };
  }
  const root = here;
  const after = copy(root);
  let walk = after;
  for (let level = 1; level <= 29; level++) walk = walk[`level${level}`] as JsonObject;
  walk.leaf = 1;
  return { name: 'deep (30 levels, one leaf)', before: root, after, repeat: 200 };
}

function list(): DeltaDocument {
  const items: Json[] = [];
  for (let i = 0; i < 1000; i++) items.push({ id: `item-${i}`, title: `Task number ${i}`, done: i % 3 === 0, score: i });
  const before: JsonObject = { title: 'tasks', items };
  const after = copy(before);
  ((after.items as JsonObject[])[500] as JsonObject).done = true;
  // 50, not 4: at 4 a batch was 80 calls of a few µs (~0.3 ms), too short to time and too few for
  // the JIT to settle; each side then measured 2-3× its steady cost.
  return { name: 'array (1,000 items, one changed)', before, after, repeat: 50 };
}

function large(): DeltaDocument {
  const before: JsonObject = {};
  let i = 0;
  while (JSON.stringify(before).length < 1_000_000) {
    before[`record${i}`] = { id: i, text: `Lorem ipsum dolor sit amet, record ${i} of the large document`, tags: ['a', 'b', `t${i % 7}`], n: i };
    i++;
  }
  const after = copy(before);
  (after[`record${Math.floor(i / 2)}`] as JsonObject).n = -1;
  return { name: `1 MB document (${i} records, one field)`, before, after, repeat: 1 };
}

// The objects on each patched path copied, so the patch can be applied without touching `doc`.
function immutableApply(doc: JsonObject, patch: readonly Operation[]): JsonObject {
  const root: JsonObject = { ...doc };
  const copied = new Set<unknown>([root]);
  for (const op of patch) {
    const segments = op.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    let parent: Record<string, unknown> = root;
    for (let i = 0; i < segments.length - 1; i++) {
      const key = segments[i] as string;
      let child = parent[key];
      if (!copied.has(child)) {
        child = Array.isArray(child) ? child.slice() : { ...(child as object) };
        copied.add(child);
        parent[key] = child;
      }
      parent = child as Record<string, unknown>;
    }
  }
  return jsonpatch.applyPatch(root, patch as Operation[], false, true).newDocument as JsonObject;
}

function bytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

function repeated(times: number, fn: () => unknown): () => Promise<unknown> {
  return async () => {
    let last: unknown;
    for (let i = 0; i < times; i++) last = fn();
    return last;
  };
}

/** The three tables (calculate, apply, bytes) as Markdown, each with its geometric mean and worst ratio. */
export async function runDeltas(rounds: number, log: (line: string) => void): Promise<string> {
  const documents = [presence(), dashboard(), deep(), list(), large()];
  const jdp = createDiffPatcher();
  const calculateCases: Case[] = [];
  const applyCases: Case[] = [];
  const byteRows: string[][] = [];
  const byteRatios: number[] = [];
  let worstBytes = { name: '', ratio: 0 };
  for (const doc of documents) {
    const { before, after, repeat } = doc;
    const stored = calculateDelta(before, after);
    const wire = toWireDelta(stored);
    const patch = jsonpatch.compare(before, after);
    // Both sides must give the document they were asked for.
    for (const [label, result] of [['applyDelta', applyDelta(before, wire)], ['fast-json-patch', immutableApply(before, patch)]] as const) {
      if (JSON.stringify(jsonpatch.compare(result, after)) !== '[]') throw new Error(`${label} did not give the new document of ${doc.name}`);
    }
    calculateCases.push({
      name: doc.name,
      iterations: 5,
      sides: [
        { label: 'calculateDelta', run: repeated(repeat, () => calculateDelta(before, after)) },
        { label: 'fast-json-patch', run: repeated(repeat, () => jsonpatch.compare(before, after)) },
        { label: 'jsondiffpatch', run: repeated(repeat, () => jdp.diff(before, after)) },
        { label: 'microdiff', run: repeated(repeat, () => microdiff(before, after)) },
      ],
    });
    applyCases.push({
      name: doc.name,
      iterations: 5,
      sides: [
        { label: 'applyDelta (wire)', run: repeated(repeat * 4, () => applyDelta(before, wire)) },
        { label: 'fast-json-patch', run: repeated(repeat * 4, () => immutableApply(before, patch)) },
        { label: 'applyDelta (stored)', run: repeated(repeat * 4, () => applyDelta(before, stored as Delta)) },
      ],
    });
    const sizes = [bytes(wire), bytes(stored), bytes(patch), bytes(jdp.diff(before, after)), bytes(microdiff(before, after))];
    const ratio = (sizes[0] as number) / (sizes[2] as number);
    byteRatios.push(ratio);
    if (ratio > worstBytes.ratio) worstBytes = { name: doc.name, ratio };
    byteRows.push([doc.name, ...sizes.map(String), formatRatio(ratio)]);
  }
  log('delta functions: calculate');
  const calculated = perCall(await measure(calculateCases, { rounds, warmupRounds: 2 }), documents);
  log('delta functions: apply');
  const applied = perCall(await measure(applyCases, { rounds, warmupRounds: 2 }), documents, 4);
  const byteTable = markdownTable(
    ['document', 'chord-sync wire B', 'chord-sync stored B', 'fast-json-patch B', 'jsondiffpatch B', 'microdiff B', 'wire ÷ fast-json-patch'],
    byteRows,
    [false, true, true, true, true, true, true],
  );
  return [
    '### calculateDelta vs fast-json-patch compare (the reference), jsondiffpatch diff, microdiff\n',
    timeTable(calculated),
    '\n### applyDelta vs an immutable fast-json-patch apply (copy the patched paths, then applyPatch)\n',
    timeTable(applied),
    '\n### Delta bytes (JSON text)\n',
    byteTable,
    `\ngeometric mean of wire ÷ fast-json-patch over ${byteRatios.length} documents: ${formatRatio(geometricMean(byteRatios))}; ` +
      `worst: ${formatRatio(worstBytes.ratio)} (${worstBytes.name})`,
  ].join('\n');
}

// µs per single call: a timed call runs `repeat × factor` of them.
function perCall(results: CaseResult[], documents: readonly DeltaDocument[], factor = 1): CaseResult[] {
  return results.map((r, i) => {
    const per = (documents[i] as DeltaDocument).repeat * factor;
    return { ...r, sides: r.sides.map((s) => ({ ...s, medianUs: s.medianUs / per, samplesUs: s.samplesUs.map((us) => us / per) })) };
  });
}

function timeTable(results: readonly CaseResult[]): string {
  const labels = (results[0] as CaseResult).sides.map((s) => s.label);
  const header = ['document'];
  const align = [false];
  labels.forEach((label, i) => {
    header.push(`${label} µs`);
    align.push(true);
    if (i !== 1) {
      header.push(`${label} ÷ ${labels[1]}`);
      align.push(true);
    }
  });
  const rows = results.map((r) => {
    const row = [r.name];
    r.sides.forEach((s, i) => {
      row.push(formatUs(s.medianUs));
      if (i !== 1) row.push(formatRatio(s.ratio));
    });
    return row;
  });
  const subject = results.map((r) => (r.sides[0] as CaseResult['sides'][number]).ratio);
  let worst = { name: '', ratio: 0 };
  for (const r of results) if ((r.sides[0] as CaseResult['sides'][number]).ratio > worst.ratio) worst = { name: r.name, ratio: (r.sides[0] as CaseResult['sides'][number]).ratio };
  return `${markdownTable(header, rows, align)}\n\ngeometric mean of ${labels[0]} ÷ ${labels[1]}: ${formatRatio(geometricMean(subject))}; worst: ${formatRatio(worst.ratio)} (${worst.name})`;
}
