import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import {
  hasAtomicRestorer,
  hasAtomicVersionWriter,
  hasBulkCleanup,
  hasSyncReader,
  type AtomicRestorer,
  type AtomicVersionWriter,
  type BulkCleanup,
  type ChordBackend,
  type SyncReader,
} from '../backend.js';
import { ValidationError } from '../errors.js';
import type { ContextRecord, DeltaRecord } from '../types.js';
import { manualClock, type BackendHarness, type ManualClock, type SuiteApi } from './harness.js';

/** The body of one conformance test: a fresh, empty backend and the clock it stamps with. */
export type BackendTestBody<B extends ChordBackend = ChordBackend> = (backend: B, clock: ManualClock) => Promise<void>;

/**
 * Registers a test that gets its own backend from `harness` (with a manual clock) and disposes of
 * it afterwards, whether the test passed or not.
 */
export function backendTest<B extends ChordBackend>(
  api: SuiteApi,
  harness: BackendHarness<B>,
): (name: string, body: BackendTestBody<B>) => void {
  return (name, body) => {
    api.test(name, async () => {
      const clock = manualClock();
      const backend = await harness.makeBackend({ clock });
      try {
        await body(backend, clock);
      } finally {
        if (harness.dispose) await harness.dispose(backend);
        else await backend.close?.();
      }
    });
  };
}

/** A context id no other test uses: `label` plus a random UUID. */
export function randomId(label = 'ctx'): string {
  return `${label}-${randomUUID()}`;
}

/**
 * `backend` seen through a proxy that counts the calls of each method, to check which of its
 * methods a caller (the engine) really uses. Methods run on the backend itself (`#private` fields).
 */
export function countingCalls<B extends ChordBackend>(backend: B): { readonly spied: B; calls(method: string): number } {
  const counts = new Map<PropertyKey, number>();
  const spied = new Proxy(backend, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        counts.set(key, (counts.get(key) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { spied, calls: (method) => counts.get(method) ?? 0 };
}

/** Everything a backend stores, as its list methods report it. */
export interface StoredState {
  readonly contexts: ContextRecord[];
  readonly deltas: DeltaRecord[];
}

export async function storedState(backend: ChordBackend): Promise<StoredState> {
  return { contexts: await backend.listContexts(), deltas: await backend.listDeltas() };
}

/**
 * Calls `backend[method](...args)` without type checks, for feeding a backend the wrong types a
 * JavaScript caller could pass.
 */
export function callUnchecked(backend: object, method: string, ...args: unknown[]): Promise<unknown> {
  const fn: unknown = (backend as Record<string, unknown>)[method];
  assert.equal(typeof fn, 'function', `the backend has no method ${method}`);
  return Reflect.apply(fn as (...a: unknown[]) => unknown, backend, args) as Promise<unknown>;
}

/** Asserts that `call` rejects with a `ValidationError` whose `argument` is `argument`. */
export async function rejectsWithValidation(call: () => Promise<unknown>, argument: string, label: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof ValidationError, `${label}: expected a ValidationError, got ${String(error)}`);
    assert.equal(error.argument, argument, `${label}: wrong argument named in ${error.message}`);
    return true;
  }, `${label}: expected a ValidationError`);
}

/**
 * Asserts that `call` is refused with a `ValidationError` naming `argument` and that it left the
 * stored data exactly as it was.
 */
export async function refusesWithoutWriting(
  backend: ChordBackend,
  call: () => Promise<unknown>,
  argument: string,
  label: string,
): Promise<void> {
  const before = await storedState(backend);
  await rejectsWithValidation(call, argument, label);
  assert.deepEqual(await storedState(backend), before, `${label}: the refused call changed stored data`);
}

/** Stores a context and a few deltas so that tests can check a refused call changed nothing. */
export async function seedSomeData(backend: ChordBackend): Promise<string> {
  const id = randomId('seed');
  await backend.setContext(id, { seeded: true }, 2);
  await backend.setDelta(id, { step: 1 }, 1);
  await backend.setDelta(id, { step: 2 }, 2);
  return id;
}

/** Writes deltas of `contextId` as `[version, insertedAt]` pairs, in the order given. */
export async function writeDeltas(
  backend: ChordBackend,
  clock: ManualClock,
  contextId: string,
  entries: ReadonlyArray<readonly [version: number, insertedAt: number]>,
): Promise<void> {
  for (const [version, insertedAt] of entries) {
    clock.set(insertedAt);
    await backend.setDelta(contextId, { contextId, version }, version);
  }
}

/** The versions of `records`, in order. */
export function versionsOf(records: ReadonlyArray<{ readonly version: number }>): number[] {
  return records.map((r) => r.version);
}

/** The context ids of `records`, in order. */
export function idsOf(records: ReadonlyArray<{ readonly contextId: string }>): string[] {
  return records.map((r) => r.contextId);
}

/** `backend` as an {@link AtomicVersionWriter}, failing the test when it is not one. */
export function requireAtomicWrites(backend: ChordBackend): ChordBackend & AtomicVersionWriter {
  assert.ok(hasAtomicVersionWriter(backend), 'the backend has no writeVersion (AtomicVersionWriter)');
  return backend;
}

/** `backend` as a {@link SyncReader}, failing the test when it is not one. */
export function requireSyncReader(backend: ChordBackend): ChordBackend & SyncReader {
  assert.ok(hasSyncReader(backend), 'the backend has no readForSync (SyncReader)');
  return backend;
}

/** `backend` as an {@link AtomicRestorer}, failing the test when it is not one. */
export function requireAtomicRestorer(backend: ChordBackend): ChordBackend & AtomicRestorer {
  assert.ok(hasAtomicRestorer(backend), 'the backend has no restoreVersion (AtomicRestorer)');
  return backend;
}

/** `backend` as a {@link BulkCleanup}, failing the test when it is not one. */
export function requireBulkCleanup(backend: ChordBackend): ChordBackend & BulkCleanup {
  assert.ok(hasBulkCleanup(backend), 'the backend lacks the BulkCleanup methods');
  return backend;
}

/**
 * Ids that sort differently by UTF-16 code unit (JS `<`), by locale, and by code point. In code
 * point (UTF-8 byte) order they are exactly this array: upper case before lower case, a prefix
 * before its extensions, U+E000 and U+FF5E before U+1F600 (which UTF-16 puts first).
 */
export const ID_SUFFIXES_IN_ORDER: readonly string[] = ['B', 'a', 'ab', 'b', 'é', '\uE000', '\uFF5E', '😀'];

/** {@link ID_SUFFIXES_IN_ORDER} shuffled, for writing in an order that is not the sorted one. */
export const ID_SUFFIXES_SHUFFLED: readonly string[] = ['😀', 'b', '\uFF5E', 'B', 'é', 'ab', '\uE000', 'a'];

/** A context record without its `epoch` (compared on its own by the epoch tests), or the value as given. */
export function withoutEpoch<T>(record: T): T {
  if (record === null || typeof record !== 'object' || !('epoch' in record)) return record;
  const { epoch: _epoch, ...rest } = record as T & { epoch?: unknown };
  return rest as T;
}
