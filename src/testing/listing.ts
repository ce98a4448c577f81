import { strict as assert } from 'node:assert';
import type { ChordBackend } from '../backend.js';
import type { BackendHarness, ManualClock, SuiteApi } from './harness.js';
import {
  backendTest,
  ID_SUFFIXES_IN_ORDER,
  ID_SUFFIXES_SHUFFLED,
  idsOf,
  randomId,
  writeDeltas,
} from './support.js';

/** Writes one context per id suffix (in shuffled order); returns the ids in code point order. */
async function writeOrderedContexts(backend: ChordBackend, clock: ManualClock): Promise<string[]> {
  const prefix = `${randomId('order')}/`;
  for (const [i, suffix] of ID_SUFFIXES_SHUFFLED.entries()) {
    clock.set(1_000 + i);
    await backend.setContext(prefix + suffix, { suffix }, i + 1);
  }
  return ID_SUFFIXES_IN_ORDER.map((suffix) => prefix + suffix);
}

/**
 * Deltas `a`: v1@100 v2@200 v3@300, `b`: v1@150 v2@250, `c`: v2@50 (ids in that order), and a
 * context `d` with no deltas.
 */
async function writeFilterDeltas(backend: ChordBackend, clock: ManualClock) {
  const prefix = `${randomId('filter')}/`;
  const [a, b, c, d] = [`${prefix}a`, `${prefix}b`, `${prefix}c`, `${prefix}d`];
  await writeDeltas(backend, clock, c, [[2, 50]]);
  await writeDeltas(backend, clock, b, [[2, 250], [1, 150]]);
  await writeDeltas(backend, clock, a, [[3, 300], [1, 100], [2, 200]]);
  await backend.setContext(d, { noDeltas: true }, 5);
  const key = (id: string, version: number) => `${id}@${version}`;
  return { a, b, c, d, key };
}

const deltaKeys = (records: ReadonlyArray<{ contextId: string; version: number }>) =>
  records.map((r) => `${r.contextId}@${r.version}`);

/** `listContexts`, `listDeltas`, `listContextsWithDeltaCounts`: filters, order, paging. */
export function registerListingTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('listing', () => {
    test('every list method returns [] on an empty backend', async (backend) => {
      assert.deepEqual(await backend.listContexts(), []);
      assert.deepEqual(await backend.listDeltas(), []);
      assert.deepEqual(await backend.listContextsWithDeltaCounts(), []);
    });

    test('listContexts orders by contextId in code point (UTF-8 byte) order, ascending by default', async (backend, clock) => {
      const ids = await writeOrderedContexts(backend, clock);
      assert.deepEqual(idsOf(await backend.listContexts()), ids);
      assert.deepEqual(idsOf(await backend.listContexts({ order: 'asc' })), ids);
    });

    test('listContexts with order desc returns the reverse order', async (backend, clock) => {
      const ids = await writeOrderedContexts(backend, clock);
      assert.deepEqual(idsOf(await backend.listContexts({ order: 'desc' })), ids.toReversed());
    });

    test('listContexts returns the full stored records', async (backend, clock) => {
      const ids = await writeOrderedContexts(backend, clock);
      const expected = await Promise.all(ids.map((id) => backend.getContext(id)));
      assert.deepEqual(await backend.listContexts(), expected);
    });

    test('listContexts filters by contextId (exact), version (equal) and insertedAt (at or after), combined with AND', async (backend, clock) => {
      const prefix = `${randomId('filter')}/`;
      const rows = [['a', 1, 100], ['b', 2, 200], ['c', 1, 300], ['d', 2, 400], ['e', 3, 200]] as const;
      for (const [suffix, version, at] of rows) {
        clock.set(at);
        await backend.setContext(prefix + suffix, { suffix }, version);
      }
      const list = async (options: Parameters<ChordBackend['listContexts']>[0]) =>
        idsOf(await backend.listContexts(options)).map((id) => id.slice(prefix.length));
      assert.deepEqual(await list({ contextId: `${prefix}b` }), ['b']);
      assert.deepEqual(await list({ contextId: prefix }), [], 'contextId is not a prefix match');
      assert.deepEqual(await list({ version: 1 }), ['a', 'c']);
      assert.deepEqual(await list({ version: 2 }), ['b', 'd']);
      assert.deepEqual(await list({ version: 9 }), []);
      assert.deepEqual(await list({ insertedAt: 200 }), ['b', 'c', 'd', 'e'], 'a context stamped exactly at insertedAt is included');
      assert.deepEqual(await list({ insertedAt: 201 }), ['c', 'd']);
      assert.deepEqual(await list({ version: 2, insertedAt: 300 }), ['d']);
      assert.deepEqual(await list({ contextId: `${prefix}b`, version: 1 }), []);
      assert.deepEqual(await list({ contextId: `${prefix}c`, version: 1, insertedAt: 300 }), ['c']);
      assert.deepEqual(await list({ version: 2, order: 'desc', limit: 1 }), ['d'], 'filters apply before paging');
      assert.deepEqual(await list({ insertedAt: 200, offset: 1, limit: 2 }), ['c', 'd']);
    });

    test('listContexts applies offset, then limit, to the ordered list', async (backend, clock) => {
      const ids = await writeOrderedContexts(backend, clock);
      assert.deepEqual(idsOf(await backend.listContexts({ limit: 3 })), ids.slice(0, 3));
      assert.deepEqual(idsOf(await backend.listContexts({ offset: 2 })), ids.slice(2));
      assert.deepEqual(idsOf(await backend.listContexts({ offset: 2, limit: 3 })), ids.slice(2, 5));
      assert.deepEqual(idsOf(await backend.listContexts({ order: 'desc', offset: 1, limit: 2 })), ids.toReversed().slice(1, 3));
      assert.deepEqual(idsOf(await backend.listContexts({ offset: ids.length - 1, limit: 5 })), ids.slice(-1));
    });

    test('listContexts with limit 0, or an offset at or past the end, returns []', async (backend, clock) => {
      const ids = await writeOrderedContexts(backend, clock);
      assert.deepEqual(await backend.listContexts({ limit: 0 }), []);
      assert.deepEqual(await backend.listContexts({ offset: ids.length }), []);
      assert.deepEqual(await backend.listContexts({ offset: ids.length + 100, limit: 1 }), []);
    });

    test('listDeltas orders by contextId (code point order), then version', async (backend, clock) => {
      const prefix = `${randomId('order')}/`;
      const suffixes = ['😀', '\uFF5E', 'b', 'B'];
      for (const suffix of suffixes) {
        await writeDeltas(backend, clock, prefix + suffix, [[3, 30], [1, 10], [2, 20]]);
      }
      const expected = ['B', 'b', '\uFF5E', '😀'].flatMap((s) => [1, 2, 3].map((v) => `${prefix}${s}@${v}`));
      assert.deepEqual(deltaKeys(await backend.listDeltas()), expected);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ order: 'asc' })), expected);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ order: 'desc' })), expected.toReversed());
    });

    test('listDeltas returns the full stored records', async (backend, clock) => {
      const { a, b } = await writeFilterDeltas(backend, clock);
      const expected = [...(await backend.getDeltas(a, 0)), ...(await backend.getDeltas(b, 0))];
      assert.deepEqual(await backend.listDeltas({ limit: 5 }), expected);
    });

    test('listDeltas filters by contextId (exact), version (equal) and insertedAt (at or after), combined with AND', async (backend, clock) => {
      const { a, b, c, d, key } = await writeFilterDeltas(backend, clock);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ contextId: a })), [key(a, 1), key(a, 2), key(a, 3)]);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ contextId: d })), [], 'a context without deltas lists none');
      assert.deepEqual(deltaKeys(await backend.listDeltas({ version: 2 })), [key(a, 2), key(b, 2), key(c, 2)]);
      assert.deepEqual(
        deltaKeys(await backend.listDeltas({ insertedAt: 200 })),
        [key(a, 2), key(a, 3), key(b, 2)],
        'a delta stamped exactly at insertedAt is included',
      );
      assert.deepEqual(deltaKeys(await backend.listDeltas({ version: 2, insertedAt: 200 })), [key(a, 2), key(b, 2)]);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ contextId: b, insertedAt: 200 })), [key(b, 2)]);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ contextId: b, version: 3 })), []);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ insertedAt: 10_000 })), []);
    });

    test('listDeltas applies offset, then limit, across context boundaries and in both orders', async (backend, clock) => {
      const { a, b, c, key } = await writeFilterDeltas(backend, clock);
      const all = [key(a, 1), key(a, 2), key(a, 3), key(b, 1), key(b, 2), key(c, 2)];
      assert.deepEqual(deltaKeys(await backend.listDeltas()), all);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ offset: 2, limit: 3 })), all.slice(2, 5));
      assert.deepEqual(deltaKeys(await backend.listDeltas({ order: 'desc', offset: 1, limit: 3 })), all.toReversed().slice(1, 4));
      assert.deepEqual(deltaKeys(await backend.listDeltas({ insertedAt: 150, offset: 1, limit: 2 })), [key(a, 3), key(b, 1)]);
      assert.deepEqual(deltaKeys(await backend.listDeltas({ contextId: a, order: 'desc', limit: 2 })), [key(a, 3), key(a, 2)]);
    });

    test('listDeltas with limit 0, or an offset at or past the end, returns []', async (backend, clock) => {
      await writeFilterDeltas(backend, clock);
      assert.deepEqual(await backend.listDeltas({ limit: 0 }), []);
      assert.deepEqual(await backend.listDeltas({ offset: 6 }), []);
      assert.deepEqual(await backend.listDeltas({ offset: 1_000, limit: 10 }), []);
    });

    test('listContextsWithDeltaCounts counts the deltas of each id, ordered by contextId; ids without deltas are not listed', async (backend, clock) => {
      const { a, b, c } = await writeFilterDeltas(backend, clock);
      const counts = [{ contextId: a, count: 3 }, { contextId: b, count: 2 }, { contextId: c, count: 1 }];
      assert.deepEqual(await backend.listContextsWithDeltaCounts(), counts);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ order: 'asc' }), counts);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ order: 'desc' }), counts.toReversed());
    });

    test('listContextsWithDeltaCounts orders ids by code point', async (backend, clock) => {
      const prefix = `${randomId('order')}/`;
      for (const suffix of ID_SUFFIXES_SHUFFLED) await writeDeltas(backend, clock, prefix + suffix, [[1, 1]]);
      const expected = ID_SUFFIXES_IN_ORDER.map((suffix) => ({ contextId: prefix + suffix, count: 1 }));
      assert.deepEqual(await backend.listContextsWithDeltaCounts(), expected);
    });

    test('listContextsWithDeltaCounts applies the filters to the deltas it counts', async (backend, clock) => {
      const { a, b, c, d } = await writeFilterDeltas(backend, clock);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ contextId: b }), [{ contextId: b, count: 2 }]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ contextId: d }), []);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ version: 2 }), [
        { contextId: a, count: 1 },
        { contextId: b, count: 1 },
        { contextId: c, count: 1 },
      ]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ version: 3 }), [{ contextId: a, count: 1 }]);
      assert.deepEqual(
        await backend.listContextsWithDeltaCounts({ insertedAt: 200 }),
        [{ contextId: a, count: 2 }, { contextId: b, count: 1 }],
        'ids whose deltas are all older are not listed',
      );
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ version: 1, insertedAt: 150 }), [{ contextId: b, count: 1 }]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ insertedAt: 10_000 }), []);
    });

    test('listContextsWithDeltaCounts applies offset, then limit, after filtering and ordering', async (backend, clock) => {
      const { a, b, c } = await writeFilterDeltas(backend, clock);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ offset: 1, limit: 1 }), [{ contextId: b, count: 2 }]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ order: 'desc', limit: 2 }), [
        { contextId: c, count: 1 },
        { contextId: b, count: 2 },
      ]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ insertedAt: 150, offset: 1 }), [{ contextId: b, count: 2 }]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ offset: 2 }), [{ contextId: c, count: 1 }]);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ limit: 0 }), []);
      assert.deepEqual(await backend.listContextsWithDeltaCounts({ offset: 3 }), []);
      assert.deepEqual((await backend.listContextsWithDeltaCounts({ limit: 1 }))[0], { contextId: a, count: 3 });
    });

    test('listed records are copies: changing them changes nothing stored', async (backend) => {
      const id = randomId();
      await backend.setContext(id, { nested: { x: 1 } }, 1);
      await backend.setDelta(id, { nested: { y: 1 } }, 1);
      const [context] = await backend.listContexts();
      const [delta] = await backend.listDeltas();
      assert.ok(context !== undefined && delta !== undefined);
      (context.context.nested as { x: number }).x = 99;
      (delta.delta.nested as { y: number }).y = 99;
      assert.deepEqual((await backend.getContext(id))?.context, { nested: { x: 1 } });
      assert.deepEqual((await backend.getDeltas(id, 0))[0]?.delta, { nested: { y: 1 } });
    });
  });
}
