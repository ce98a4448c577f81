// Hostile input: prototype keys never pollute and round-trip as ordinary keys; ids and filter
// values never reach SQL as text; values past the depth or size limit, cycles and non-JSON values
// are refused with ValidationError naming the problem; big contexts within the limit round-trip.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { applyChanges, applyDelta, calculateDelta, formatDelta, mergeDeltas, unset } from '../../src/delta/index.js';
import { Chord } from '../../src/engine/index.js';
import { BackendUnavailableError, ValidationError } from '../../src/errors.js';
import type { ChordBackend } from '../../src/backend.js';
import type { JsonObject } from '../../src/types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH } from '../../src/validation.js';
import { manualClock } from '../../src/testing/harness.js';
import type { DisposablePostgres } from '../support/disposable-postgres.js';
import { type BackendTarget, type PrismaTarget, backendTargets, wireUrl } from '../support/targets.js';
import { canonical } from '../support/json.js';
import { expectWholeHistory, freshSchema, missingBinaries, runServerUrl, startServer } from './support.js';
import { forTarget } from '../support/named.js';

const PROTOTYPE_NAMES = {
  object: Object.getOwnPropertyNames(Object.prototype).sort(),
  array: Object.getOwnPropertyNames(Array.prototype).sort(),
  function: Object.getOwnPropertyNames(Function.prototype).sort(),
};

function expectNoPollution(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTOTYPE_NAMES.object);
  expect(Object.getOwnPropertyNames(Array.prototype).sort()).toEqual(PROTOTYPE_NAMES.array);
  expect(Object.getOwnPropertyNames(Function.prototype).sort()).toEqual(PROTOTYPE_NAMES.function);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(({} as Record<string, unknown>).added).toBeUndefined();
}

/** `value` is a plain object whose `__proto__` (if any) is an own key, not its prototype. */
function expectOrdinaryObject(value: unknown, what: string): void {
  expect(Object.getPrototypeOf(value), `${what} has Object.prototype as its prototype`).toBe(Object.prototype);
  expect((value as Record<string, unknown>).polluted, `${what} inherits nothing`).toBeUndefined();
}

// JSON.parse makes `__proto__` an own key, as a request body would.
const HOSTILE_CONTEXT = `{"__proto__": {"polluted": "ctx"}, "constructor": {"prototype": {"polluted": "ctor"}},
  "prototype": {"polluted": "p"}, "nested": {"__proto__": {"polluted": "n"},
  "list": [{"__proto__": {"polluted": "arr"}}, {"constructor": {"prototype": {"polluted": "arr2"}}}]}}`;
const HOSTILE_CHANGES = `{"__proto__": {"added": 1}, "nested": {"__proto__": {"polluted": "n2"}}, "constructor": {"prototype": null}}`;
// HOSTILE_CONTEXT with HOSTILE_CHANGES merged and "prototype" unset.
const MERGED = `{"__proto__": {"polluted": "ctx", "added": 1}, "constructor": {"prototype": null},
  "nested": {"__proto__": {"polluted": "n2"},
  "list": [{"__proto__": {"polluted": "arr"}}, {"constructor": {"prototype": {"polluted": "arr2"}}}]}}`;

function hostileChanges(): Record<string, unknown> {
  const changes = JSON.parse(HOSTILE_CHANGES) as Record<string, unknown>;
  changes.prototype = unset;
  return changes;
}

/** `levels` objects nested in each other (the outermost counts as level 1). */
function nest(levels: number, leaf = true): JsonObject {
  let value: JsonObject = { leaf };
  for (let i = 1; i < levels; i++) value = { down: value };
  return value;
}

function cyclic(): JsonObject {
  const inner: Record<string, unknown> = { n: 1 };
  inner.self = inner;
  return { a: inner } as JsonObject;
}

class Point {
  constructor(readonly x = 1) {}
}

/** Values that are not JSON, each to be refused where it sits (`context.field.inner`). */
const NON_JSON: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['a function', () => 1],
  ['a symbol', Symbol('s')],
  ['a bigint', 10n],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['a Date', new Date(0)],
  ['a Map', new Map([['a', 1]])],
  ['a class instance', new Point()],
  // eslint-disable-next-line no-sparse-arrays
  ['a sparse array', [1, , 3]],
];

/** A JSON object whose serialized size is about `bytes`, made of many keys with mixed-script text. */
function bigContext(bytes: number): JsonObject {
  const context: JsonObject = {};
  const chunk = 'chord ✓ синхрон 同期 '.repeat(40); // non-ASCII, so UTF-8 and UTF-16 sizes differ
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const value = { text: `${i}:${chunk}`, n: i, list: [i, `${i}`, null, true] };
    context[`key${i}`] = value;
    size += Buffer.byteLength(JSON.stringify(value)) + `"key${i}":,`.length;
  }
  return context;
}

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (e: unknown) => e,
  );
}

async function expectValidation(call: () => Promise<unknown>, argument: string | RegExp, problem: RegExp): Promise<void> {
  const error = await rejection(call);
  expect(error).toBeInstanceOf(ValidationError);
  const e = error as ValidationError;
  if (typeof argument === 'string') expect(e.argument).toBe(argument);
  else expect(e.argument).toMatch(argument);
  expect(e.message).toMatch(problem);
}

async function withTarget(target: BackendTarget, fn: (backend: ChordBackend) => Promise<void>): Promise<void> {
  const backend = await target.harness.makeBackend({ clock: manualClock() });
  try {
    await fn(backend);
  } finally {
    if (target.harness.dispose) await target.harness.dispose(backend);
    else await backend.close?.();
  }
}

describe('prototype keys in the delta functions', () => {
  test('calculateDelta, applyDelta, mergeDeltas, formatDelta and applyChanges keep __proto__, constructor and prototype as own keys', () => {
    const before = JSON.parse(HOSTILE_CONTEXT) as JsonObject;
    const merged = applyChanges(before, hostileChanges());
    expect(canonical(merged)).toBe(canonical(JSON.parse(MERGED)));
    expectOrdinaryObject(merged, 'the merged context');
    expectOrdinaryObject(merged.nested, 'merged.nested');

    const d1 = calculateDelta({}, before);
    const d2 = calculateDelta(before, merged);
    expect(canonical(applyDelta({}, d1))).toBe(canonical(before));
    const after = applyDelta(before, d2);
    expect(canonical(after)).toBe(canonical(merged));
    expectOrdinaryObject(after, 'applyDelta result');
    expectOrdinaryObject(after.nested, 'applyDelta result.nested');
    const both = mergeDeltas([d1, d2]);
    expect(canonical(applyDelta({}, both))).toBe(canonical(merged));
    const paths = formatDelta(d2, { contextId: '__proto__', version: 2 }).changes.map((c) => c.path.join('/'));
    expect(paths).toEqual(['__proto__/added', 'constructor/prototype', 'nested/__proto__/polluted', 'prototype']);
    expectNoPollution();
  });

  test('hand-made deltas that aim at prototypes either apply as own keys or are refused', () => {
    const set = JSON.parse('{"s": {"__proto__": {"polluted": 1}}, "c": {"constructor": {"s": {"prototype": {"polluted": 2}}}}}');
    const applied = applyDelta(JSON.parse('{"constructor": {}}'), set);
    expect(Object.keys(applied).sort()).toEqual(['__proto__', 'constructor']);
    expectOrdinaryObject(applied, 'the result');
    // A node key that is not a tag, and changes inside a missing key, are refused.
    expect(() => applyDelta({}, JSON.parse('{"__proto__": {"s": {"polluted": 1}}}'))).toThrow(ValidationError);
    expect(() => applyDelta({}, JSON.parse('{"c": {"__proto__": {"s": {"polluted": 1}}}}'))).toThrow(ValidationError);
    expect(() => mergeDeltas([set, JSON.parse('{"c": {"__proto__": {"d": {"polluted": 1}}}}')])).not.toThrow();
    expect(() => mergeDeltas([JSON.parse('{"__proto__": {}}')])).toThrow(ValidationError);
    expectNoPollution();
  });
});

const targets = backendTargets();

for (const target of targets) {
  describe(`${target.label}: hostile input`, () => {
    const { test } = forTarget(target.label);
    test('prototype keys round-trip through the backend and the engine (set, update, sync) and pollute nothing', async () => {
      await withTarget(target, async (backend) => {
        const chord = new Chord({ backend });
        const first = await chord.setContext('h', JSON.parse(HOSTILE_CONTEXT) as JsonObject);
        expect(canonical(first.context.context)).toBe(canonical(JSON.parse(HOSTILE_CONTEXT)));
        const stored = await chord.getContext('h');
        expect(canonical(stored?.context)).toBe(canonical(JSON.parse(HOSTILE_CONTEXT)));
        expectOrdinaryObject(stored?.context, 'the stored context');
        expect(Object.keys(stored?.context ?? {})).toContain('__proto__');

        const second = await chord.updateContext('h', hostileChanges() as JsonObject);
        expect(second.context.version).toBe(2);
        expect(canonical((await chord.getContext('h'))?.context)).toBe(canonical(JSON.parse(MERGED)));

        const sync = await chord.syncContext('h', 1);
        expect(sync.kind).toBe('delta');
        const client = applyDelta(JSON.parse(HOSTILE_CONTEXT) as JsonObject, (sync as { delta: JsonObject }).delta);
        expect(canonical(client)).toBe(canonical(JSON.parse(MERGED)));
        expectOrdinaryObject(client, 'the client context');
        const full = await chord.syncContext('h', null);
        expectOrdinaryObject((full as { context: { context: JsonObject } }).context.context, 'the full sync context');

        const [listed] = await backend.listContexts({ contextId: 'h' });
        expect(canonical(listed?.context)).toBe(canonical(JSON.parse(MERGED)));
        for (const d of await backend.listDeltas({ contextId: 'h' })) expectOrdinaryObject(d.delta, 'a listed delta');
        await expectWholeHistory(backend, 'h');
        expectNoPollution();
      });
    });

    test('ids and filters are bound, never spliced into SQL: quotes, %, _ and SQL text match exactly, tables intact', async () => {
      const ids = ["'; DROP TABLE chord_deltas; --", "x' OR '1'='1", '%', '_', 'a%', 'a_', 'ab', 'aXb', '"', '\\', '$1', '__proto__'];
      await withTarget(target, async (backend) => {
        for (const [i, id] of ids.entries()) {
          await backend.setContext(id, { i }, 1);
          await backend.setDelta(id, { i } as JsonObject, 1);
        }
        for (const [i, id] of ids.entries()) {
          expect((await backend.getContext(id))?.context).toEqual({ i });
          expect((await backend.listContexts({ contextId: id })).map((r) => r.contextId)).toEqual([id]);
          expect((await backend.listDeltas({ contextId: id })).map((r) => r.contextId)).toEqual([id]);
          expect(await backend.listContextsWithDeltaCounts({ contextId: id })).toEqual([{ contextId: id, count: 1 }]);
          expect((await backend.getDeltas(id, 0)).length).toBe(1);
        }
        expect(await backend.listContexts({ contextId: 'a' })).toEqual([]);
        expect(await backend.deleteDeltasForContext('%')).toBe(1);
        expect(await backend.deleteContext('_')).toBe(1);
        expect(await backend.deleteDeltasByTime("x' OR '1'='1", Number.MAX_SAFE_INTEGER)).toBe(1);
        expect(await backend.deleteDeltasExceedingThreshold("'; DROP TABLE chord_deltas; --", 0)).toBe(1);
        expect((await backend.listContexts()).length).toBe(ids.length - 1);
        expect((await backend.listDeltas()).length).toBe(ids.length - 3);
        const chord = new Chord({ backend });
        await chord.setContext("'; DROP TABLE chord_contexts; --", { ok: true });
        expect((await chord.syncContext("'; DROP TABLE chord_contexts; --", null)).kind).toBe('full');
        if ('inspector' in target) {
          const { inspector } = target as PrismaTarget;
          const schema = inspector.schemaOf(backend as PrismaBackend);
          const tables = await inspector.query<{ table_name: string }>(
            `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
            [schema],
          );
          expect(tables.map((t) => t.table_name)).toEqual(['_prisma_migrations', 'chord_contexts', 'chord_deltas', 'chord_writes']);
          const [row] = await inspector.query<{ n: unknown }>(`SELECT count(*) AS n FROM "${schema}".chord_contexts`);
          expect(Number(row?.n)).toBe(ids.length);
        }
      });
    });

    test(`nesting past the default limit (${DEFAULT_MAX_DEPTH}), cycles and non-JSON values are refused with ValidationError naming the problem`, async () => {
      await withTarget(target, async (backend) => {
        const chord = new Chord({ backend });
        await backend.setContext('deep', nest(DEFAULT_MAX_DEPTH), 1);
        await chord.setContext('deep2', nest(DEFAULT_MAX_DEPTH));
        // A change at the deepest level: its delta nests about twice as deep as the context, and must be stored.
        const deepest = await chord.updateContext('deep2', nest(DEFAULT_MAX_DEPTH, false));
        expect(deepest.context.version).toBe(2);
        await expectWholeHistory(backend, 'deep2');
        await expectValidation(() => backend.setContext('x', nest(DEFAULT_MAX_DEPTH + 1), 1), /^context/, /nesting is deeper than the limit of 100/);
        // A delta may nest twice as deep as a context (plus its tag map), and no deeper.
        await backend.setDelta('x', nest(2 * DEFAULT_MAX_DEPTH + 1), 1);
        await expectValidation(() => backend.setDelta('x', nest(2 * DEFAULT_MAX_DEPTH + 2), 1), /^delta/, /nesting is deeper than the limit of 201/);
        await backend.deleteDeltasForContext('x');
        await expectValidation(() => chord.setContext('x', nest(DEFAULT_MAX_DEPTH + 1)), /^context/, /nesting is deeper than the limit of 100/);
        await expectValidation(() => chord.updateContext('deep2', nest(DEFAULT_MAX_DEPTH + 1)), /^changes/, /nesting is deeper than the limit of 100/);
        await expectValidation(() => backend.setContext('x', cyclic(), 1), 'context.a.self', /cycle/);
        await expectValidation(() => chord.setContext('x', cyclic()), 'context.a.self', /cycle/);
        await expectValidation(() => chord.updateContext('deep2', cyclic()), /^changes\.a\.self/, /cycle/);
        for (const [name, value] of NON_JSON) {
          const context = { field: { inner: value } } as unknown as JsonObject;
          await expectValidation(() => backend.setContext('x', context, 1), /^context\.field\.inner/, /not|hole/);
          await expectValidation(() => chord.setContext('x', context), /^context\.field\.inner/, /not|hole/);
          await expectValidation(() => chord.updateContext('deep2', context), /^changes\.field\.inner/, /not|hole/);
          expect(name).toBeTruthy();
        }
        expect(await backend.getContext('x')).toBeNull();
        expect((await chord.getContext('deep2'))?.version).toBe(2);
      });
    });

    test(`a context over the default size limit (${DEFAULT_MAX_BYTES} bytes) is refused before anything is written`, async () => {
      await withTarget(target, async (backend) => {
        const chord = new Chord({ backend });
        const tooBig = { blob: 'x'.repeat(DEFAULT_MAX_BYTES) };
        await expectValidation(() => backend.setContext('big', tooBig, 1), 'context', /over the limit of 16777216/);
        await expectValidation(() => chord.setContext('big', tooBig), 'context', /over the limit of 16777216/);
        expect(await backend.getContext('big')).toBeNull();
      });
    });
  });
}

describe('configured limits', () => {
  const limits = { maxDepth: 5, maxBytes: 1_000 };

  test('Chord refuses what is past its own limits, for sets and for updates whose merge grows past them', async () => {
    const backend = new MemoryBackend(); // default limits: only the engine's apply here
    const chord = new Chord({ backend, limits });
    await chord.setContext('c', { ...nest(5) });
    await expectValidation(() => chord.setContext('c', nest(6)), /^context/, /nesting is deeper than the limit of 5/);
    await expectValidation(() => chord.updateContext('c', nest(6)), /^changes/, /nesting is deeper than the limit of 5/);
    await expectValidation(() => chord.setContext('c', { blob: 'x'.repeat(1_000) }), 'context', /over the limit of 1000/);
    await chord.updateContext('c', { a: 'x'.repeat(600) });
    // Each change is small; together they pass the limit.
    await expectValidation(() => chord.updateContext('c', { b: 'y'.repeat(600) }), 'context', /over the limit of 1000/);
    expect((await chord.getContext('c'))?.version).toBe(2);
    await expectValidation(async () => new Chord({ limits: { maxDepth: 0 } }), 'limits.maxDepth', /≥ 1/);
  });

  test('MemoryBackend refuses what is past its configured limits', async () => {
    const backend = new MemoryBackend({ limits });
    await backend.setContext('c', nest(5), 1);
    await expectValidation(() => backend.setContext('c', nest(6), 2), /^context/, /limit of 5/);
    await expectValidation(() => backend.writeVersion('c', { blob: 'x'.repeat(1_000) }, {}, 1), 'context', /over the limit of 1000/);
    await expectValidation(() => new Chord({ backend }).setContext('c', { blob: 'x'.repeat(1_000) }), 'context', /over the limit of 1000/);
    expect((await backend.getContext('c'))?.version).toBe(1);
  });

  test('PrismaBackend checks its configured limits before it touches the database', async () => {
    // Nothing listens on port 1: a value past the limits is refused as invalid, one within them
    // goes on to the database and finds it unavailable.
    const backend = new PrismaBackend({ connectionString: 'postgresql://postgres@127.0.0.1:1/none', limits, connectTimeoutMs: 1_000 });
    try {
      await expectValidation(() => backend.setContext('c', nest(6), 1), /^context/, /limit of 5/);
      await expectValidation(() => backend.writeVersion('c', { blob: 'x'.repeat(1_000) }, {}, 0), 'context', /over the limit of 1000/);
      await expectValidation(() => backend.setDelta('c', nest(12), 1), /^delta/, /limit of 11/);
      await expectValidation(() => backend.writeVersion('c', nest(6), {}, 0), /^context/, /limit of 5/);
      expect(await rejection(() => backend.setContext('c', nest(5), 1))).toBeInstanceOf(BackendUnavailableError);
    } finally {
      await backend.close();
    }
  });
});

const runUrl = runServerUrl();
// The run's server, else a disposable one, else (a fresh machine) PGlite over its socket.
const onSocket = runUrl === undefined && missingBinaries !== undefined;
const socketUrl = wireUrl();

describe(`several-MB contexts through { connectionString }${onSocket ? ` on PGlite's socket (${missingBinaries})` : ' on PostgreSQL'}`, () => {
  let server: DisposablePostgres | undefined;
  let url: string;

  beforeAll(async () => {
    if (runUrl !== undefined) url = runUrl;
    else if (onSocket) url = await socketUrl();
    else {
      server = await startServer();
      url = (server as DisposablePostgres).url;
    }
  });

  afterAll(() => {
    server?.dispose();
  });

  test('a 6 MB context round-trips whole (set, get, list, sync, update by delta); past the configured 8 MiB it is refused', async () => {
    const { schema, drop } = await freshSchema(url);
    // PGlite's socket serves one client at a time: one connection then.
    const backend = new PrismaBackend({ connectionString: url, schema, limits: { maxBytes: 8 * 1024 * 1024 }, ...(onSocket ? { poolSize: 1 } : {}) });
    try {
      const chord = new Chord({ backend });
      const big = bigContext(6_000_000);
      const bytes = Buffer.byteLength(JSON.stringify(big));
      expect(bytes).toBeGreaterThan(5_000_000);
      await chord.setContext('big', big);
      expect(canonical((await chord.getContext('big'))?.context)).toBe(canonical(big));
      const [listed] = await backend.listContexts({ contextId: 'big' });
      expect(canonical(listed?.context)).toBe(canonical(big));
      const full = await chord.syncContext('big', null);
      expect(canonical((full as { context: { context: JsonObject } }).context.context)).toBe(canonical(big));

      await chord.updateContext('big', { key7: { n: -7 } });
      const sync = await chord.syncContext('big', 1);
      expect(sync.kind).toBe('delta');
      const delta = (sync as { delta: JsonObject }).delta;
      expect(JSON.stringify(delta).length).toBeLessThan(2_000);
      const expected = applyChanges(big, { key7: { n: -7 } });
      expect(canonical(applyDelta(big, delta))).toBe(canonical(expected));
      expect(canonical((await chord.getContext('big'))?.context)).toBe(canonical(expected));

      const tooBig = bigContext(9_000_000);
      await expectValidation(() => chord.setContext('big', tooBig), 'context', /over the limit of 8388608/);
      expect((await chord.getContext('big'))?.version).toBe(2);
      console.log(`reliability figures: big context: ${JSON.stringify({ bytes })}`);
    } finally {
      await backend.close();
      await drop();
    }
  });
});
