import { randomFillSync } from 'node:crypto';
import { ValidationError } from './errors.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from './types.js';
import { type JsonLimits, deltaLimits, describe, serializeJsonObject, validateContextId, validateVersion } from './validation.js';
import { MAX_CLIENT_ID_LENGTH, MAX_WRITE_ID } from './wire/writes.js';

/** Filters and paging for the list methods. Every field is optional; filters combine with AND. */
export interface ListOptions {
  /** Only records of this context id (exact match). */
  readonly contextId?: string;
  /** Only records at exactly this version. */
  readonly version?: number;
  /** Only records with `insertedAt` at or after this time. */
  readonly insertedAt?: number;
  /** At most this many records (an integer ≥ 0). Default: no limit. */
  readonly limit?: number;
  /** Skip this many records first (an integer ≥ 0). Default: 0. */
  readonly offset?: number;
  /**
   * Contexts are ordered by `contextId`, deltas by `(contextId, version)`, and delta counts by
   * `contextId`; ids compare by their UTF-8 bytes. Default: `'asc'`.
   */
  readonly order?: 'asc' | 'desc';
}

/** How many deltas one context has stored. */
export interface DeltaCount {
  readonly contextId: string;
  readonly count: number;
}

/**
 * The storage contract: one method per callback of Chord's `Chord.Backend.Behaviour`.
 *
 * Every method must validate its input first and throw `ValidationError` naming the bad argument
 * without writing anything; must throw `BackendUnavailableError` (with the driver error as `cause`)
 * when the storage cannot be reached; and must never return a value it changed silently.
 * Timestamps (`insertedAt`) are stamped by the backend from its own clock.
 */
export interface ChordBackend {
  /** Must insert or replace the context of `contextId` at `version`, stamping `insertedAt` now; returns what was stored. */
  setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord>;
  /** Must return the stored context, or `null` when there is none (never throw for a missing id). */
  getContext(contextId: string): Promise<ContextRecord | null>;
  /** Must delete the context (not its deltas); returns the number of rows removed (0 or 1). */
  deleteContext(contextId: string): Promise<number>;
  /** Must store the delta for `(contextId, version)`, replacing one already there; returns what was stored. */
  setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord>;
  /** Must return the deltas of `contextId` with `version > clientVersion`, ascending by version; `[]` when none. */
  getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]>;
  /** Must delete every delta of `contextId`; returns how many were removed. */
  deleteDeltasForContext(contextId: string): Promise<number>;
  /** Must delete the deltas of `contextId` with `insertedAt < olderThanTime` (strictly older); returns how many. */
  deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number>;
  /**
   * Must keep only the newest `versionThreshold` deltas of `contextId` (by version) and delete the
   * rest; `0` keeps none. Returns how many were removed.
   */
  deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number>;
  /** Must return the contexts that pass the filters, ordered by `contextId`, then paged. */
  listContexts(options?: ListOptions): Promise<ContextRecord[]>;
  /**
   * Must return, for each context id that has deltas passing the filters (`contextId`, `version`,
   * `insertedAt` apply to the deltas counted), the number of such deltas, ordered by `contextId`,
   * then paged. Ids with no matching delta are not listed.
   */
  listContextsWithDeltaCounts(options?: ListOptions): Promise<DeltaCount[]>;
  /** Must return the deltas that pass the filters, ordered by `(contextId, version)`, then paged. */
  listDeltas(options?: ListOptions): Promise<DeltaRecord[]>;
  /** Releases connections or timers the backend holds. Optional; safe to call twice. */
  close?(): Promise<void>;
}

/** The names of the seed's eleven callbacks, as {@link ChordBackend} methods. */
export const CHORD_BACKEND_METHODS = [
  'setContext',
  'getContext',
  'deleteContext',
  'setDelta',
  'getDeltas',
  'deleteDeltasForContext',
  'deleteDeltasByTime',
  'deleteDeltasExceedingThreshold',
  'listContexts',
  'listContextsWithDeltaCounts',
  'listDeltas',
] as const satisfies readonly (keyof ChordBackend)[];

/** What an atomic version write stored. */
export interface VersionWriteResult {
  readonly context: ContextRecord;
  readonly delta: DeltaRecord;
}

/**
 * Optional capability: compare-and-set of a new version. The engine uses it when present; every
 * built-in backend has it.
 */
export interface AtomicVersionWriter {
  /**
   * Must store `context` and `delta` as version `expectedVersion + 1`, both or neither, and only if
   * the stored version is still `expectedVersion` (`0` means: no context is stored). Otherwise must
   * write nothing and throw `VersionConflictError` (with the stored version when known). A delta
   * already stored at `expectedVersion + 1` (left over from an older history) is replaced.
   * `expectedVersion` must be a version below `Number.MAX_SAFE_INTEGER` (else `ValidationError`).
   */
  writeVersion(
    contextId: string,
    context: JsonObject,
    delta: Delta,
    expectedVersion: number,
  ): Promise<VersionWriteResult>;
}

/** Which write of which client a write is: the key under which a write is applied at most once. */
export interface WriteId {
  /** The writer's own id (a client of the sync route), 1 to 256 characters. */
  readonly clientId: string;
  /** An integer from 1 to 2³¹−1; each next write of the same client to a context has a larger one. */
  readonly writeId: number;
}

/** What a backend keeps for (contextId, clientId): the last write id applied and what it produced. */
export interface WriteReceipt {
  readonly writeId: number;
  /** The version the write produced (the version then stored, when it changed nothing). */
  readonly version: number;
  /** The context's epoch at that version (absent on a backend without epochs). */
  readonly epoch?: string;
}

/** What {@link WriteIdRecorder.writeVersionOnce} did. */
export type OnceWriteResult =
  /** Applied: `written` is what was stored, `null` when the write changed nothing (only its receipt was stored). */
  | { readonly duplicate: false; readonly written: VersionWriteResult | null }
  /** The receipt already held this write id or a later one: nothing was written. */
  | { readonly duplicate: true; readonly receipt: WriteReceipt };

/**
 * Optional capability: writes applied at most once per {@link WriteId}, across every process on
 * the same storage. The sync route takes client writes only on a backend with it; every built-in
 * backend has it. Receipts are removed with their context (`deleteContext`, `deleteIdleContexts`)
 * and by age with the deltas (`deleteDeltasByTime`, `deleteDeltasOlderThan`: a receipt is as old
 * as the write it records, re-stamped by the client's next write).
 */
export interface WriteIdRecorder {
  /** Must return the receipt stored for `(contextId, clientId)`, or `null` when there is none. */
  getWriteReceipt(contextId: string, clientId: string): Promise<WriteReceipt | null>;
  /**
   * In one atomic step: if the receipt of `(contextId, write.clientId)` holds `write.writeId` or a
   * later one, must write nothing and answer it as `duplicate` (this check comes first, so a
   * duplicate is never a conflict). Otherwise as {@link AtomicVersionWriter.writeVersion} with
   * `delta` (a `null` delta: the write changed nothing, only checks that the stored version is
   * `expectedVersion`), and with it stores the receipt `{ writeId, version, epoch }` of what it
   * produced, stamped now; both or neither.
   */
  writeVersionOnce(contextId: string, context: JsonObject, delta: Delta | null, expectedVersion: number, write: WriteId): Promise<OnceWriteResult>;
}

/** Checks a {@link WriteId}; `ValidationError` names `argument` (or its field). */
export function validateWriteId(value: unknown, argument = 'write'): asserts value is WriteId {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(argument, `must be { clientId, writeId }, got ${describe(value)}`);
  }
  const { clientId, writeId } = value as { clientId?: unknown; writeId?: unknown };
  validateClientId(clientId, `${argument}.clientId`);
  if (!Number.isSafeInteger(writeId) || (writeId as number) < 1 || (writeId as number) > MAX_WRITE_ID) {
    throw new ValidationError(`${argument}.writeId`, `must be an integer from 1 to ${MAX_WRITE_ID}, got ${describe(writeId)}`);
  }
}

/** Checks a writer's client id: a string of 1 to 256 characters. */
export function validateClientId(value: unknown, argument = 'clientId'): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_CLIENT_ID_LENGTH) {
    throw new ValidationError(argument, `must be a string of 1 to ${MAX_CLIENT_ID_LENGTH} characters, got ${describe(value)}`);
  }
}

/**
 * The checks every {@link WriteIdRecorder.writeVersionOnce} makes of its arguments, in order, and
 * the JSON texts of the context and the delta (`null` for none) within `limits`.
 */
export function serializeOnceWrite(
  contextId: unknown,
  context: unknown,
  delta: unknown,
  expectedVersion: unknown,
  write: unknown,
  limits: Required<JsonLimits>,
): { contextText: string; deltaText: string | null } {
  validateContextId(contextId);
  validateWriteId(write);
  const contextText = serializeJsonObject(context, 'context', limits);
  const deltaText = delta === null ? null : serializeJsonObject(delta, 'delta', deltaLimits(limits));
  validateVersion(expectedVersion, 'expectedVersion');
  if (expectedVersion >= Number.MAX_SAFE_INTEGER) {
    throw new ValidationError('expectedVersion', `must be below ${Number.MAX_SAFE_INTEGER} so the next version is exact`);
  }
  return { contextText, deltaText };
}

/** True when `backend` applies writes at most once per write id. */
export function hasWriteIdRecorder(backend: ChordBackend): backend is ChordBackend & WriteIdRecorder {
  const b = backend as Partial<WriteIdRecorder>;
  return typeof b.getWriteReceipt === 'function' && typeof b.writeVersionOnce === 'function';
}

/**
 * Optional capability: a restore that cannot move a context back. The engine uses it for
 * `restoreContext` when present (else `setContext`, then `deleteDeltasForContext`); every
 * built-in backend has it.
 */
export interface AtomicRestorer {
  /**
   * Must store `context` at `version` and delete every stored delta of `contextId` (none leads to
   * the restored context), both or neither, and only if no context is stored at `version` or
   * above and, when `expectedVersion` is given, the stored version is exactly it (`0`: none is
   * stored). Otherwise must write nothing and throw `VersionConflictError` with the stored version.
   * A new row takes a new epoch; an existing one keeps its epoch.
   */
  restoreVersion(contextId: string, context: JsonObject, version: number, expectedVersion?: number): Promise<ContextRecord>;
}

/**
 * Deltas a sync may use add up to at most the stored context's size or this many bytes, whichever
 * is larger: past it the context is the smaller answer, and a client far behind a context with
 * large changes can't make the process build a huge value.
 */
export const SYNC_DELTA_BYTES_FLOOR = 64 * 1024;

// Random bytes for epochs, drawn 256 epochs at a time: one randomBytes call per epoch cost ~6 µs
// (a system call each), more than the rest of a Redis write's work in the client.
const EPOCHS_PER_FILL = 256;
const epochPool = Buffer.alloc(16 * EPOCHS_PER_FILL);
let epochNext = EPOCHS_PER_FILL;

/** A new epoch for a context that comes into existence: 128 random bits, base64url. */
export function newEpoch(): string {
  if (epochNext === EPOCHS_PER_FILL) {
    randomFillSync(epochPool);
    epochNext = 0;
  }
  const start = 16 * epochNext++;
  return epochPool.toString('base64url', start, start + 16);
}

/** What {@link SyncReader.readForSync} read, all from one consistent state. */
export interface SyncRead {
  /** The context's current version. */
  readonly version: number;
  /** The context's current epoch (a backend without epochs leaves it out). */
  readonly epoch?: string;
  /** The time of the context's last write. */
  readonly insertedAt: number;
  /**
   * The deltas that take `clientVersion` to `version`, ascending, when all of them are stored,
   * the client is 1 to `maxBehind` versions behind, and together they are no larger than the
   * stored context or {@link SYNC_DELTA_BYTES_FLOOR} (else a client is better served, and the
   * process protected, by the context); otherwise `[]`.
   */
  readonly deltas: DeltaRecord[];
  /**
   * The context, whenever `deltas` is `[]`, `version !== clientVersion` and `known` is not set;
   * else `null` (not read).
   */
  readonly context: JsonObject | null;
  /**
   * `true` when the caller's `known` was used: `deltas` holds only the deltas after
   * `known.version` (`[]` when the context is still at it) and `context` is `null`; the caller
   * already holds the merge of the ones before.
   */
  readonly known?: true;
}

/**
 * What the caller of {@link SyncReader.readForSync} already holds for a client: the deltas from the
 * client's version up to `version`, merged, read in the context's life `epoch`.
 */
export interface SyncKnown {
  readonly version: number;
  readonly epoch: string;
}

/**
 * Optional capability: the reads of a sync in one round trip, reading (and parsing) the context
 * only when the answer needs it. The engine uses it when present (else `getContext`, then
 * `getDeltas`); every built-in backend has it.
 */
export interface SyncReader {
  /**
   * Must return `null` when no context is stored, otherwise a {@link SyncRead}. The size compared
   * is the backend's own measure of what it stores (bytes of JSON text, or of the stored column).
   * With `known`, a backend with epochs must use it when the context is in `known.epoch`, the
   * client is 1 to `maxBehind` versions behind, `clientVersion < known.version <= version`, and
   * the client's next delta (`clientVersion + 1`) is still stored (pruning removes the oldest
   * first, so a pruned client still gets the context, as without `known`): it
   * answers `known: true` with only the deltas after `known.version` (none when the context is
   * still at it), all of them and within the byte budget; if they are not, it answers as without
   * `known`. So the engine, which holds the merge up to `known.version`, reads each delta once.
   */
  readForSync(contextId: string, clientVersion: number, maxBehind: number, known?: SyncKnown): Promise<SyncRead | null>;
}

/**
 * Optional capability of a backend that answers from this process's memory: `readForSync`'s
 * answer at once, not as a promise. The engine then answers a sync without waiting on the backend,
 * and shares no reads between identical syncs in flight (there is no round trip to share).
 */
export interface ImmediateSyncReader extends SyncReader {
  readForSyncNow(contextId: string, clientVersion: number, maxBehind: number, known?: SyncKnown): SyncRead | null;
}

/** What one batch of a bulk cleanup removed. */
export interface IdleContextsDeleted {
  readonly contexts: number;
  readonly deltas: number;
}

/**
 * Optional capability: set-based cleanup across all contexts, one bounded batch a call, so the
 * engine never loads the table into memory. The engine calls each method until it removes fewer
 * than `batchSize` rows (or contexts), so `batchSize` must be an integer ≥ 1 (0 is a
 * `ValidationError`, as it could never end that loop).
 */
export interface BulkCleanup {
  /** Must delete up to `batchSize` contexts with `insertedAt < olderThanTime`, with all their deltas. */
  deleteIdleContexts(olderThanTime: number, batchSize: number): Promise<IdleContextsDeleted>;
  /** Must delete up to `batchSize` deltas, of any context, with `insertedAt < olderThanTime`. */
  deleteDeltasOlderThan(olderThanTime: number, batchSize: number): Promise<number>;
  /** Must delete up to `batchSize` deltas that are not among the newest `keep` of their context. */
  deleteDeltasBeyondNewest(keep: number, batchSize: number): Promise<number>;
}

/** What a {@link ChangeNotifier} tells: the context is now at `version`, or was deleted (`version: null`). */
export interface ChangeNotice {
  readonly contextId: string;
  /** The version now stored, or `null` when the context was deleted (or expired). */
  readonly version: number | null;
}

/** Receives the notices of a {@link ChangeNotifier}. */
export interface ChangeListener {
  /**
   * A context changed. A notice may come late, twice, or for a change already read; only "read it
   * again" may be concluded from it, never the state itself.
   */
  change(notice: ChangeNotice): void;
  /**
   * Notices may have been lost (e.g. the listening connection was re-established): every watched
   * context must be read again. Called after every reconnect, not on the first connect.
   */
  resync(): void;
}

/** An open subscription to change notices. */
export interface ChangeSubscription {
  /** Resolves once notices flow (e.g. `LISTEN` is active); a change made after that is noticed. */
  readonly ready: Promise<void>;
  /** Stops the notices; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Optional capability: notices of changes made by any process on the same storage, so `watch`
 * pushes instead of polling. A backend without it still works: `watch` polls it.
 */
export interface ChangeNotifier {
  /** Must deliver a notice for every write, delete and restore of any context after `ready`, or call `resync`. */
  subscribeChanges(listener: ChangeListener): ChangeSubscription;
}

/** True when `backend` notifies changes. */
export function hasChangeNotifier(backend: ChordBackend): backend is ChordBackend & ChangeNotifier {
  return typeof (backend as Partial<ChangeNotifier>).subscribeChanges === 'function';
}

/** True when `backend` offers the atomic compare-and-set write. */
export function hasAtomicVersionWriter(
  backend: ChordBackend,
): backend is ChordBackend & AtomicVersionWriter {
  return typeof (backend as Partial<AtomicVersionWriter>).writeVersion === 'function';
}

/** True when `backend` restores atomically. */
export function hasAtomicRestorer(backend: ChordBackend): backend is ChordBackend & AtomicRestorer {
  return typeof (backend as Partial<AtomicRestorer>).restoreVersion === 'function';
}

/** True when `backend` reads a sync in one call. */
export function hasSyncReader(backend: ChordBackend): backend is ChordBackend & SyncReader {
  return typeof (backend as Partial<SyncReader>).readForSync === 'function';
}

/** True when `backend` answers a sync's reads at once, from this process's memory. */
export function hasImmediateSyncReader(backend: ChordBackend): backend is ChordBackend & ImmediateSyncReader {
  return hasSyncReader(backend) && typeof (backend as Partial<ImmediateSyncReader>).readForSyncNow === 'function';
}

/** True when `backend` offers set-based bulk cleanup. */
export function hasBulkCleanup(backend: ChordBackend): backend is ChordBackend & BulkCleanup {
  const b = backend as Partial<BulkCleanup>;
  return (
    typeof b.deleteIdleContexts === 'function' &&
    typeof b.deleteDeltasOlderThan === 'function' &&
    typeof b.deleteDeltasBeyondNewest === 'function'
  );
}

/**
 * Optional: one cleanup pass at a time across every process on the same storage. `startCleanup`
 * runs each scheduled pass through it, so several app instances share one schedule's work instead
 * of deleting the same rows at once.
 */
export interface ExclusiveCleanup {
  /**
   * Must run `pass` only if no other pass holds the storage's cleanup lock, holding it until `pass`
   * settles, and resolve `{ ran: true, result }`; when another holds it, must not wait: resolve
   * `{ ran: false }` without running `pass`.
   */
  withExclusiveCleanup<T>(pass: () => Promise<T>): Promise<{ ran: true; result: T } | { ran: false }>;
}

/** True when `backend` can make cleanup passes exclusive across processes. */
export function hasExclusiveCleanup(backend: ChordBackend): backend is ChordBackend & ExclusiveCleanup {
  return typeof (backend as Partial<ExclusiveCleanup>).withExclusiveCleanup === 'function';
}

/** Constructor input every built-in backend accepts. */
export interface BackendClockConfig {
  /** The clock that stamps `insertedAt`; must return an integer. Default: `Date.now` (milliseconds). */
  readonly clock?: () => number;
}
