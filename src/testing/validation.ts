import { MAX_CONTEXT_ID_LENGTH } from '../validation.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { backendTest, callUnchecked, refusesWithoutWriting, seedSomeData } from './support.js';

/** A value that is not JSON, and the argument path a backend must name when refusing it. */
export interface NonJsonCase {
  readonly label: string;
  /** The value, built fresh per call (some cases are cyclic or mutable). */
  readonly make: () => unknown;
  /** The path below the argument, e.g. `.a[1]`, or `''` for the argument itself. */
  readonly path: string;
}

/** Non-string, empty, too long, or unstorable (lone surrogate, NUL) ids. */
export const BAD_CONTEXT_IDS: ReadonlyArray<readonly [label: string, value: unknown]> = [
  ['empty string', ''],
  [`${MAX_CONTEXT_ID_LENGTH + 1} characters`, 'x'.repeat(MAX_CONTEXT_ID_LENGTH + 1)],
  ['number', 42],
  ['null', null],
  ['undefined', undefined],
  ['object', { id: 'a' }],
  ['lone surrogate', 'a\uD800b'],
  ['NUL character', 'a\u0000b'],
];

/** Versions that are not integers in [0, Number.MAX_SAFE_INTEGER]. */
export const BAD_VERSIONS: ReadonlyArray<readonly [label: string, value: unknown]> = [
  ['negative', -1],
  ['fractional', 1.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['2^53 (unsafe)', 2 ** 53],
  ['numeric string', '1'],
  ['null', null],
  ['bigint', 1n],
];

/** Timestamps that are not safe integers (negative ones are fine). */
export const BAD_TIMESTAMPS: ReadonlyArray<readonly [label: string, value: unknown]> = [
  ['fractional', 1.5],
  ['NaN', Number.NaN],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['2^53 (unsafe)', 2 ** 53],
  ['string', '100'],
  ['Date', new Date(0)],
];

/** Counts (limits, thresholds) that are not integers ≥ 0. */
export const BAD_COUNTS: ReadonlyArray<readonly [label: string, value: unknown]> = [
  ['negative', -1],
  ['fractional', 0.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['string', '3'],
];

class Point {
  x = 1;
}

export const NON_JSON_OBJECTS: readonly NonJsonCase[] = [
  { label: 'null', make: () => null, path: '' },
  { label: 'an array', make: () => [1, 2], path: '' },
  { label: 'a string', make: () => '{}', path: '' },
  { label: 'undefined', make: () => undefined, path: '' },
  { label: 'a Date', make: () => new Date(0), path: '' },
  { label: 'a Map', make: () => new Map([['a', 1]]), path: '' },
  { label: 'a class instance', make: () => new Point(), path: '' },
  { label: 'a symbol key', make: () => ({ [Symbol('k')]: 1 }), path: '' },
  { label: 'undefined inside an object', make: () => ({ ok: 1, a: undefined }), path: '.a' },
  { label: 'undefined inside an array', make: () => ({ a: [1, undefined] }), path: '.a[1]' },
  { label: 'a function', make: () => ({ f: () => 1 }), path: '.f' },
  { label: 'a symbol', make: () => ({ s: Symbol('s') }), path: '.s' },
  { label: 'a bigint', make: () => ({ n: 1n }), path: '.n' },
  { label: 'NaN', make: () => ({ n: Number.NaN }), path: '.n' },
  { label: 'Infinity', make: () => ({ n: Number.POSITIVE_INFINITY }), path: '.n' },
  { label: '-Infinity', make: () => ({ n: Number.NEGATIVE_INFINITY }), path: '.n' },
  { label: 'a nested Date', make: () => ({ d: new Date(0) }), path: '.d' },
  { label: 'a nested Map', make: () => ({ m: new Map() }), path: '.m' },
  { label: 'a sparse array', make: () => ({ a: [1, , 3] }), path: '.a[1]' },
  { label: 'a deep path', make: () => ({ a: [0, 1, { b: undefined }] }), path: '.a[2].b' },
  { label: 'a key that needs quoting', make: () => ({ 'x y': undefined }), path: '["x y"]' },
  { label: 'a lone surrogate', make: () => ({ s: 'a\uDC00' }), path: '.s' },
  { label: 'a NUL character', make: () => ({ s: 'a\u0000' }), path: '.s' },
  {
    label: 'a cycle through an object',
    make: () => {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      return o;
    },
    path: '.self',
  },
  {
    label: 'a cycle through an array',
    make: () => {
      const list: unknown[] = [];
      list.push(list);
      return { list };
    },
    path: '.list[0]',
  },
];

const BAD_LIST_OPTIONS: ReadonlyArray<readonly [label: string, value: unknown, argument: string]> = [
  ['a string', 'asc', 'options'],
  ['null', null, 'options'],
  ['an array', [], 'options'],
  ['negative limit', { limit: -1 }, 'options.limit'],
  ['fractional limit', { limit: 1.5 }, 'options.limit'],
  ['string limit', { limit: '10' }, 'options.limit'],
  ['negative offset', { offset: -1 }, 'options.offset'],
  ['fractional offset', { offset: 0.5 }, 'options.offset'],
  ['unknown order', { order: 'up' }, 'options.order'],
  ['upper-case order', { order: 'DESC' }, 'options.order'],
  ['unknown key', { sort: 'asc' }, 'options.sort'],
  ['misspelt key', { context_id: 'a' }, 'options.context_id'],
  ['empty contextId', { contextId: '' }, 'options.contextId'],
  ['non-string contextId', { contextId: 1 }, 'options.contextId'],
  ['negative version', { version: -1 }, 'options.version'],
  ['fractional version', { version: 1.5 }, 'options.version'],
  ['fractional insertedAt', { insertedAt: 1.5 }, 'options.insertedAt'],
  ['string insertedAt', { insertedAt: '2024-01-01' }, 'options.insertedAt'],
];

/** Bad input is refused with a `ValidationError` naming the argument, and nothing is written. */
export function registerValidationTests(api: SuiteApi, harness: BackendHarness): void {
  const test = backendTest(api, harness);
  api.describe('validation', () => {
    const idMethods: ReadonlyArray<readonly [method: string, rest: readonly unknown[]]> = [
      ['setContext', [{ a: 1 }, 1]],
      ['getContext', []],
      ['deleteContext', []],
      ['setDelta', [{ a: 1 }, 1]],
      ['getDeltas', [0]],
      ['deleteDeltasForContext', []],
      ['deleteDeltasByTime', [Number.MAX_SAFE_INTEGER]],
      ['deleteDeltasExceedingThreshold', [0]],
    ];
    for (const [method, rest] of idMethods) {
      test(`${method} refuses a bad contextId (empty, too long, not a string, unstorable)`, async (backend) => {
        await seedSomeData(backend);
        for (const [label, id] of BAD_CONTEXT_IDS) {
          await refusesWithoutWriting(backend, () => callUnchecked(backend, method, id, ...rest), 'contextId', `${method}(${label})`);
        }
      });
    }

    for (const method of ['setContext', 'setDelta'] as const) {
      const argument = method === 'setContext' ? 'context' : 'delta';
      test(`${method} refuses a ${argument} that is not a JSON object, naming the path of the bad value`, async (backend) => {
        const id = await seedSomeData(backend);
        for (const c of NON_JSON_OBJECTS) {
          await refusesWithoutWriting(backend, () => callUnchecked(backend, method, id, c.make(), 3), argument + c.path, `${method}(${c.label})`);
        }
      });

      test(`${method} refuses a version that is not an integer from 0 to Number.MAX_SAFE_INTEGER`, async (backend) => {
        const id = await seedSomeData(backend);
        for (const [label, version] of BAD_VERSIONS) {
          await refusesWithoutWriting(backend, () => callUnchecked(backend, method, id, { a: 1 }, version), 'version', `${method}(${label})`);
        }
      });
    }

    test('getDeltas refuses a clientVersion that is not an integer from 0 to Number.MAX_SAFE_INTEGER', async (backend) => {
      const id = await seedSomeData(backend);
      for (const [label, version] of BAD_VERSIONS) {
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'getDeltas', id, version), 'clientVersion', `getDeltas(${label})`);
      }
    });

    test('deleteDeltasByTime refuses an olderThanTime that is not an integer, deleting nothing', async (backend) => {
      const id = await seedSomeData(backend);
      for (const [label, time] of BAD_TIMESTAMPS) {
        await refusesWithoutWriting(backend, () => callUnchecked(backend, 'deleteDeltasByTime', id, time), 'olderThanTime', `deleteDeltasByTime(${label})`);
      }
    });

    test('deleteDeltasExceedingThreshold refuses a versionThreshold that is not an integer ≥ 0, deleting nothing', async (backend) => {
      const id = await seedSomeData(backend);
      for (const [label, threshold] of BAD_COUNTS) {
        await refusesWithoutWriting(
          backend,
          () => callUnchecked(backend, 'deleteDeltasExceedingThreshold', id, threshold),
          'versionThreshold',
          `deleteDeltasExceedingThreshold(${label})`,
        );
      }
    });

    for (const method of ['listContexts', 'listDeltas', 'listContextsWithDeltaCounts']) {
      test(`${method} refuses bad options and unknown option keys, naming the option`, async (backend) => {
        await seedSomeData(backend);
        for (const [label, options, argument] of BAD_LIST_OPTIONS) {
          await refusesWithoutWriting(backend, () => callUnchecked(backend, method, options), argument, `${method}(${label})`);
        }
      });
    }
  });
}
