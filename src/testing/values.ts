import { strict as assert } from 'node:assert';
import type { JsonObject } from '../types.js';
import { MAX_CONTEXT_ID_LENGTH } from '../validation.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, idsOf, randomId, versionsOf } from './support.js';

/**
 * Ids a SQL backend could mangle: LIKE wildcards, quotes, escapes, case, Unicode normalization,
 * trailing spaces and code points above U+FFFF. Each is a distinct id and must match only itself.
 */
function trickyIds(): string[] {
  const p = `${randomId('tricky')}/`;
  return [
    'a:b', 'a"b', "a'b", 'a%', 'a_', 'ab', 'abc', 'AB', 'a\\b', 'a\\%', 'a\\_', 'a b', 'a ', 'a',
    '\u00e9', 'e\u0301', 'Ä', 'ä', '日本語', '😀', '👍🏽', '\uFF5E', '{"a":1}', "'; DROP TABLE x; --", '\t\n',
  ].map((suffix) => p + suffix);
}

/** A JSON object exercising what JSON storage must keep exactly. */
function richJson(): JsonObject {
  return {
    action: 'added',
    value: { action: 'removed', old_value: null },
    changes: [{ action: 'modified', path: ['a', 'b'] }],
    nested: [[1, [2, [3, []]]], [], [{}], [null]],
    empty: {},
    emptyList: [],
    nothing: null,
    yes: true,
    no: false,
    numbers: [0, -1, 1.5, 0.1, 1e300, -1e-300, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
    strings: ['', ' ', 'quote " and \' and \\', 'line\nbreak\ttab\u0001', 'ünïcödé', '日本語', '😀👍🏽', '\uFFFF'],
    '': 'empty key',
    'key with spaces': 1,
    'a.b[0]': 'not a path',
    constructor: 'not a function',
    toString: { valueOf: 1 },
    ...(JSON.parse('{"__proto__": {"polluted": true}}') as JsonObject),
    deep: Array.from({ length: 40 }).reduce<JsonObject>((inner) => ({ d: inner }), { bottom: true }),
  };
}

/** Ids, JSON values, versions and timestamps at their edges must round-trip exactly. */
export function registerValueTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('values', () => {
    test('ids with special characters are stored as given and each matches only itself', async (backend) => {
      const ids = trickyIds();
      for (const [i, id] of ids.entries()) {
        await backend.setContext(id, { id }, i + 1);
        await backend.setDelta(id, { id }, i + 1);
      }
      for (const [i, id] of ids.entries()) {
        const label = JSON.stringify(id);
        const context = await backend.getContext(id);
        assert.equal(context?.contextId, id, label);
        assert.deepEqual(context.context, { id }, label);
        assert.deepEqual(idsOf(await backend.listContexts({ contextId: id })), [id], label);
        const deltas = await backend.getDeltas(id, 0);
        assert.deepEqual(deltas.map((d) => [d.contextId, d.delta, d.version]), [[id, { id }, i + 1]], label);
        assert.deepEqual(idsOf(await backend.listDeltas({ contextId: id })), [id], label);
        assert.deepEqual(await backend.listContextsWithDeltaCounts({ contextId: id }), [{ contextId: id, count: 1 }], label);
      }
      assert.deepEqual(new Set(idsOf(await backend.listContexts())), new Set(ids));
    });

    test('deletes with special-character ids remove only that exact id', async (backend) => {
      const ids = trickyIds();
      for (const id of ids) {
        await backend.setContext(id, { id }, 1);
        await backend.setDelta(id, { id }, 1);
        await backend.setDelta(id, { id }, 2);
      }
      const wildcards = ids.filter((id) => /[%_\\]$/.test(id));
      for (const id of wildcards) {
        assert.equal(await backend.deleteContext(id), 1, JSON.stringify(id));
        assert.equal(await backend.deleteDeltasForContext(id), 2, JSON.stringify(id));
      }
      const survivors = ids.filter((id) => !wildcards.includes(id));
      assert.deepEqual(new Set(idsOf(await backend.listContexts())), new Set(survivors));
      assert.deepEqual(
        new Set((await backend.listContextsWithDeltaCounts()).map((c) => `${c.contextId}=${c.count}`)),
        new Set(survivors.map((id) => `${id}=2`)),
      );
    });

    test(`an id of the maximum length (${MAX_CONTEXT_ID_LENGTH} UTF-16 code units) round-trips`, async (backend) => {
      const id = randomId('long').padEnd(MAX_CONTEXT_ID_LENGTH - 2, 'x') + '😀';
      assert.equal(id.length, MAX_CONTEXT_ID_LENGTH);
      await backend.setContext(id, { long: true }, 1);
      await backend.setDelta(id, { long: true }, 1);
      assert.equal((await backend.getContext(id))?.contextId, id);
      assert.equal((await backend.getDeltas(id, 0))[0]?.contextId, id);
    });

    test('JSON contexts round-trip exactly, including keys named action, __proto__ and constructor', async (backend) => {
      const id = randomId();
      const value = richJson();
      assert.deepEqual((await backend.setContext(id, value, 1)).context, value);
      assert.deepEqual((await backend.getContext(id))?.context, value);
      assert.deepEqual((await backend.listContexts({ contextId: id }))[0]?.context, value);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    });

    test('JSON deltas round-trip exactly, including keys named action, __proto__ and constructor', async (backend) => {
      const id = randomId();
      const value = richJson();
      assert.deepEqual((await backend.setDelta(id, value, 1)).delta, value);
      assert.deepEqual((await backend.getDeltas(id, 0))[0]?.delta, value);
      assert.deepEqual((await backend.listDeltas({ contextId: id }))[0]?.delta, value);
      assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype was polluted');
    });

    test('an empty object is a valid context and delta', async (backend) => {
      const id = randomId();
      assert.deepEqual((await backend.setContext(id, {}, 0)).context, {});
      await backend.setDelta(id, {}, 1);
      assert.deepEqual((await backend.getContext(id))?.context, {});
      assert.deepEqual((await backend.getDeltas(id, 0))[0]?.delta, {});
    });

    test('version 0 and versions up to Number.MAX_SAFE_INTEGER round-trip', async (backend) => {
      const max = Number.MAX_SAFE_INTEGER;
      const zero = randomId('zero');
      const big = randomId('big');
      assert.equal((await backend.setContext(zero, {}, 0)).version, 0);
      assert.equal((await backend.getContext(zero))?.version, 0);
      assert.equal((await backend.setContext(big, {}, max)).version, max);
      assert.equal((await backend.getContext(big))?.version, max);
      assert.deepEqual(idsOf(await backend.listContexts({ version: max })), [big]);
      assert.deepEqual(idsOf(await backend.listContexts({ version: 0 })), [zero]);

      await backend.setDelta(big, {}, max);
      await backend.setDelta(big, {}, max - 1);
      await backend.setDelta(big, {}, 0);
      assert.deepEqual(versionsOf(await backend.getDeltas(big, 0)), [max - 1, max]);
      assert.deepEqual(versionsOf(await backend.getDeltas(big, max - 2)), [max - 1, max]);
      assert.deepEqual(versionsOf(await backend.getDeltas(big, max - 1)), [max]);
      assert.deepEqual(await backend.getDeltas(big, max), []);
      assert.deepEqual(versionsOf(await backend.listDeltas({ version: max })), [max]);
      assert.equal(await backend.deleteDeltasExceedingThreshold(big, 1), 2);
      assert.deepEqual(versionsOf(await backend.listDeltas()), [max]);
    });

    test('insertedAt keeps clock values from 0 up to Number.MAX_SAFE_INTEGER', async (backend, clock) => {
      for (const time of [0, 1_700_000_000_000, Number.MAX_SAFE_INTEGER]) {
        const id = randomId(`t${time}`);
        clock.set(time);
        assert.equal((await backend.setContext(id, {}, 1)).insertedAt, time);
        assert.equal((await backend.setDelta(id, {}, 1)).insertedAt, time);
        assert.equal((await backend.getContext(id))?.insertedAt, time);
        assert.equal((await backend.getDeltas(id, 0))[0]?.insertedAt, time);
        assert.deepEqual(idsOf(await backend.listDeltas({ insertedAt: time, contextId: id })), [id]);
      }
    });
  });
}
