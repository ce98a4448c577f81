import type {
  ChangeListener,
  ChangeSubscription,
  AtomicRestorer,
  AtomicVersionWriter,
  BulkCleanup,
  ChordBackend,
  DeltaCount,
  IdleContextsDeleted,
  ListOptions,
  ImmediateSyncReader,
  SyncKnown,
  SyncRead,
  SyncReader,
  VersionWriteResult,
  OnceWriteResult,
  WriteId,
  WriteIdRecorder,
  WriteReceipt,
} from '../../backend.js';
import { SYNC_DELTA_BYTES_FLOOR, newEpoch, serializeOnceWrite, validateClientId } from '../../backend.js';
import { ValidationError, VersionConflictError } from '../../errors.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from '../../types.js';
import {
  deltaLimits,
  describe,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateBatchSize,
  validateContextId,
  validateCount,
  validateListOptions,
  validateSyncKnown,
  validateTimestamp,
  validateVersion,
  type JsonLimits,
  validateOptions,
} from '../../validation.js';
import { DEFAULT_TURN_INTERVAL_MS, EventLoopTurns } from './event-loop-turns.js';
import { SortedIdSet } from './sorted-id-set.js';

const MEMORY_CONFIG_KEYS = new Set(['clock', 'limits', 'turnIntervalMs']);

/** Constructor input of {@link MemoryBackend}. */
export interface MemoryBackendConfig {
  /** The clock that stamps `insertedAt`; must return an integer. Default: `Date.now` (milliseconds). */
  readonly clock?: () => number;
  /**
   * Bounds on each stored context and delta. Default: nesting up to `DEFAULT_MAX_DEPTH` (100) and
   * `DEFAULT_MAX_BYTES` (16 MiB) of UTF-8 JSON.
   */
  readonly limits?: JsonLimits;
  /**
   * How long, in ms, a long call (a cleanup batch, a listing) may hold the event loop before it
   * lets timers and I/O run. An integer ≥ 0. Default: `DEFAULT_TURN_INTERVAL_MS` (10).
   */
  readonly turnIntervalMs?: number;
}

/** The clock a {@link MemoryBackend} uses when none is given. */
export const DEFAULT_MEMORY_CLOCK: () => number = Date.now;

// Values are kept as JSON text: what is stored is exactly what a JSON database would keep (no
// undefined, no -0, no shared references), and every read parses a fresh copy the caller may mutate.
interface StoredContext {
  readonly json: string;
  readonly version: number;
  readonly insertedAt: number;
  readonly epoch: string;
}

interface StoredReceipt extends WriteReceipt {
  readonly epoch: string;
  readonly insertedAt: number;
}

interface StoredDelta {
  readonly json: string;
  readonly version: number;
  readonly insertedAt: number;
  /** The delta parsed once, frozen, for sync reads (which never hand it to a caller to mutate). */
  parsed?: Delta;
}

/**
 * The in-memory reference backend: every behaviour of the conformance suite, plus the atomic
 * version write and bulk cleanup. Data lives in this process only and is gone when it ends.
 *
 * Contexts are indexed by id in code point order (a B+ tree, so a write to a new id is O(log n)),
 * and each id's deltas are an array sorted by version, so `getDeltas` is a binary search and
 * listing walks the indexes in order, stopping once `offset + limit` records are found, instead of
 * sorting on every call.
 *
 * Long calls (a cleanup batch, a listing of many ids) give the event loop a turn every
 * `DEFAULT_TURN_INTERVAL_MS` (10 ms), between one id and the next, so timers and other requests
 * are not held up for the whole call. Calls made in those turns run in between: each context a
 * cleanup reaches is judged on what is stored when it is reached, and a listing shows each id as
 * stored when it reaches it (an id added or deleted meanwhile may or may not be listed).
 */
export class MemoryBackend implements ChordBackend, AtomicVersionWriter, AtomicRestorer, BulkCleanup, SyncReader, ImmediateSyncReader, WriteIdRecorder {
  readonly #clock: () => number;
  readonly #limits: Required<JsonLimits>;
  readonly #contexts = new Map<string, StoredContext>();
  readonly #contextIds = new SortedIdSet();
  // Deltas are kept apart from contexts: the contract lets a delta exist for an id with no context.
  readonly #deltas = new Map<string, StoredDelta[]>();
  readonly #deltaIds = new SortedIdSet();
  // Per context, per client: the last write id applied (WriteIdRecorder); they go with the context.
  readonly #receipts = new Map<string, Map<string, StoredReceipt>>();
  readonly #listeners = new Set<ChangeListener>();
  readonly #turnIntervalMs: number;

  /** @param config `clock` (default `Date.now`) and JSON `limits` (default 100 levels, 16 MiB). */
  constructor(config: MemoryBackendConfig = {}) {
    validateOptions(config, 'config', 'MemoryBackend', MEMORY_CONFIG_KEYS);
    const clock = config.clock ?? DEFAULT_MEMORY_CLOCK;
    if (typeof clock !== 'function') {
      throw new ValidationError('clock', `must be a function, got ${describe(clock)}`);
    }
    this.#clock = clock;
    this.#limits = resolveLimits(config.limits);
    const turnIntervalMs = config.turnIntervalMs ?? DEFAULT_TURN_INTERVAL_MS;
    validateCount(turnIntervalMs, 'turnIntervalMs');
    this.#turnIntervalMs = turnIntervalMs;
  }

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const json = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    const epoch = this.#contexts.get(contextId)?.epoch ?? newEpoch();
    const stored: StoredContext = { json, version, insertedAt: readClock(this.#clock), epoch };
    this.#putContext(contextId, stored);
    return toContextRecord(contextId, stored);
  }

  async getContext(contextId: string): Promise<ContextRecord | null> {
    validateContextId(contextId);
    const stored = this.#contexts.get(contextId);
    return stored === undefined ? null : toContextRecord(contextId, stored);
  }

  async deleteContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return this.#removeContext(contextId) ? 1 : 0;
  }

  async setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord> {
    validateContextId(contextId);
    const json = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(version);
    const stored: StoredDelta = { json, version, insertedAt: readClock(this.#clock) };
    this.#putDelta(contextId, stored);
    return toDeltaRecord(contextId, stored);
  }

  async getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    return this.#deltaRecords(contextId, clientVersion, Number.POSITIVE_INFINITY);
  }

  async readForSync(contextId: string, clientVersion: number, maxBehind: number, known?: SyncKnown): Promise<SyncRead | null> {
    return this.readForSyncNow(contextId, clientVersion, maxBehind, known);
  }

  /** {@link readForSync}'s answer at once (the `ImmediateSyncReader` capability): nothing here waits. */
  readForSyncNow(contextId: string, clientVersion: number, maxBehind: number, known?: SyncKnown): SyncRead | null {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    validateCount(maxBehind, 'maxBehind');
    if (known !== undefined) validateSyncKnown(known);
    const stored = this.#contexts.get(contextId);
    if (stored === undefined) return null;
    const { version, epoch, insertedAt } = stored;
    // One literal per answer (no spread of a shared head): this is the no-change hot path.
    if (version === clientVersion) return { version, epoch, insertedAt, deltas: [], context: null };
    if (known !== undefined && known.epoch === epoch && clientVersion < known.version && known.version <= version && version - clientVersion <= maxBehind && this.#hasFirstDelta(contextId, clientVersion)) {
      // The caller holds the merge up to known.version: only what follows it, if anything.
      if (known.version === version) return { version, epoch, insertedAt, deltas: [], context: null, known: true };
      const after = this.#syncDeltas(contextId, known.version, stored, maxBehind);
      if (after.length > 0) return { version, epoch, insertedAt, deltas: after, context: null, known: true };
    }
    const deltas = this.#syncDeltas(contextId, clientVersion, stored, maxBehind);
    // The context is parsed only when the deltas can't serve the client.
    return { version, epoch, insertedAt, deltas, context: deltas.length > 0 ? null : (JSON.parse(stored.json) as JsonObject) };
  }

  /**
   * Whether the client's next delta is still stored. Pruning removes a context's oldest deltas
   * first, so while it is there, so are the ones after it: a `known` merge of them still stands
   * for deltas the storage has, and a client whose deltas were pruned gets the context, merge or not.
   */
  #hasFirstDelta(contextId: string, clientVersion: number): boolean {
    const list = this.#deltas.get(contextId);
    return list !== undefined && findVersion(list, clientVersion + 1) !== undefined;
  }

  /** The deltas from `clientVersion` to `stored.version` when all are kept and within the byte budget, else `[]`. */
  #syncDeltas(contextId: string, clientVersion: number, stored: StoredContext, maxBehind: number): DeltaRecord[] {
    const behind = stored.version - clientVersion;
    const list = this.#deltas.get(contextId);
    if (behind <= 0 || behind > maxBehind || list === undefined) return [];
    const first = firstAbove(list, clientVersion);
    const budget = Math.max(stored.json.length, SYNC_DELTA_BYTES_FLOOR);
    let size = 0;
    for (let i = 0; i < behind; i++) {
      const d = list[first + i];
      if (d === undefined || d.version !== clientVersion + 1 + i) return [];
      size += d.json.length;
      if (size > budget) return [];
    }
    const records: DeltaRecord[] = [];
    for (let i = 0; i < behind; i++) {
      const d = list[first + i] as StoredDelta;
      d.parsed ??= deepFreeze(JSON.parse(d.json) as Delta);
      records.push({ contextId, delta: d.parsed, version: d.version, insertedAt: d.insertedAt });
    }
    return records;
  }

  async deleteDeltasForContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return this.#removeDeltaList(contextId);
  }

  async deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number> {
    validateContextId(contextId);
    validateTimestamp(olderThanTime, 'olderThanTime');
    this.#removeReceiptsOlderThan(contextId, olderThanTime);
    const list = this.#deltas.get(contextId);
    if (list === undefined) return 0;
    // Versions and timestamps need not rise together (a delta can be rewritten), so check them all.
    return this.#removeWhere(contextId, list, (d) => d.insertedAt < olderThanTime, Infinity);
  }

  async deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number> {
    validateContextId(contextId);
    validateCount(versionThreshold, 'versionThreshold');
    const list = this.#deltas.get(contextId);
    if (list === undefined || list.length <= versionThreshold) return 0;
    return this.#removeOldest(contextId, list, list.length - versionThreshold);
  }

  async listContexts(options?: ListOptions): Promise<ContextRecord[]> {
    const { contextId, version, insertedAt, limit, offset, order } = validateListOptions(options);
    const contexts = this.#contexts;
    const ids = contextId === undefined ? this.#contextIds.values(order) : [contextId];
    function* matching(): Generator<[string, StoredContext] | typeof BETWEEN_IDS> {
      for (const id of ids) {
        const stored = contexts.get(id);
        if (
          stored !== undefined &&
          (version === undefined || stored.version === version) &&
          (insertedAt === undefined || stored.insertedAt >= insertedAt)
        ) {
          yield [id, stored];
        }
        yield BETWEEN_IDS;
      }
    }
    // Records are built after paging, so skipped ones are never parsed.
    return collectPage(matching(), offset, limit, ([id, stored]) => toContextRecord(id, stored), this.#turnIntervalMs);
  }

  async listContextsWithDeltaCounts(options?: ListOptions): Promise<DeltaCount[]> {
    const { contextId, version, insertedAt, limit, offset, order } = validateListOptions(options);
    const deltas = this.#deltas;
    const ids = contextId === undefined ? this.#deltaIds.values(order) : [contextId];
    function* counted(): Generator<DeltaCount | typeof BETWEEN_IDS> {
      for (const id of ids) {
        yield BETWEEN_IDS;
        const list = deltas.get(id);
        if (list === undefined) continue;
        let count = 0;
        if (version !== undefined) {
          const d = findVersion(list, version);
          if (d !== undefined && (insertedAt === undefined || d.insertedAt >= insertedAt)) count = 1;
        } else if (insertedAt === undefined) {
          count = list.length;
        } else {
          for (const d of list) if (d.insertedAt >= insertedAt) count++;
        }
        if (count > 0) yield { contextId: id, count };
      }
    }
    return collectPage(counted(), offset, limit, (count) => count, this.#turnIntervalMs);
  }

  async listDeltas(options?: ListOptions): Promise<DeltaRecord[]> {
    const { contextId, version, insertedAt, limit, offset, order } = validateListOptions(options);
    const deltas = this.#deltas;
    const ids = contextId === undefined ? this.#deltaIds.values(order) : [contextId];
    const passes = (d: StoredDelta) => insertedAt === undefined || d.insertedAt >= insertedAt;
    const descending = order === 'desc';
    function* matching(): Generator<[string, StoredDelta] | typeof BETWEEN_IDS> {
      for (const id of ids) {
        // Before the id's list is read, never inside it: a turn given mid-list could let a write
        // or cleanup reshape the list under the walk.
        yield BETWEEN_IDS;
        const list = deltas.get(id);
        if (list === undefined) continue;
        if (version !== undefined) {
          const d = findVersion(list, version);
          if (d !== undefined && passes(d)) yield [id, d];
          continue;
        }
        for (let n = 0; n < list.length; n++) {
          const d = list[descending ? list.length - 1 - n : n] as StoredDelta;
          if (passes(d)) yield [id, d];
        }
      }
    }
    return collectPage(matching(), offset, limit, ([id, stored]) => toDeltaRecord(id, stored), this.#turnIntervalMs);
  }

  async writeVersion(
    contextId: string,
    context: JsonObject,
    delta: Delta,
    expectedVersion: number,
  ): Promise<VersionWriteResult> {
    validateContextId(contextId);
    const contextJson = serializeJsonObject(context, 'context', this.#limits);
    const deltaJson = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(expectedVersion, 'expectedVersion');
    if (expectedVersion === Number.MAX_SAFE_INTEGER) {
      throw new ValidationError('expectedVersion', `the next version would exceed ${Number.MAX_SAFE_INTEGER}`);
    }
    return this.#writeVersionNow(contextId, contextJson, deltaJson, expectedVersion);
  }

  #writeVersionNow(contextId: string, contextJson: string, deltaJson: string, expectedVersion: number): VersionWriteResult {
    const actualVersion = this.#contexts.get(contextId)?.version ?? 0;
    if (actualVersion !== expectedVersion) {
      throw new VersionConflictError(contextId, expectedVersion, actualVersion);
    }
    const insertedAt = readClock(this.#clock);
    const version = expectedVersion + 1;
    const epoch = this.#contexts.get(contextId)?.epoch ?? newEpoch();
    // No await between the check above and these writes, so no other call can interleave.
    const storedContext: StoredContext = { json: contextJson, version, insertedAt, epoch };
    const storedDelta: StoredDelta = { json: deltaJson, version, insertedAt };
    this.#putContext(contextId, storedContext);
    this.#putDelta(contextId, storedDelta);
    return { context: toContextRecord(contextId, storedContext), delta: toDeltaRecord(contextId, storedDelta) };
  }

  async getWriteReceipt(contextId: string, clientId: string): Promise<WriteReceipt | null> {
    validateContextId(contextId);
    validateClientId(clientId);
    const stored = this.#receipts.get(contextId)?.get(clientId);
    return stored === undefined ? null : { writeId: stored.writeId, version: stored.version, epoch: stored.epoch };
  }

  async writeVersionOnce(contextId: string, context: JsonObject, delta: Delta | null, expectedVersion: number, write: WriteId): Promise<OnceWriteResult> {
    const { contextText: contextJson, deltaText: deltaJson } = serializeOnceWrite(contextId, context, delta, expectedVersion, write, this.#limits);
    // No await from here to the end, so no other call can interleave.
    const receipts = this.#receipts.get(contextId);
    const last = receipts?.get(write.clientId);
    if (last !== undefined && last.writeId >= write.writeId) {
      return { duplicate: true, receipt: { writeId: last.writeId, version: last.version, epoch: last.epoch } };
    }
    let written: VersionWriteResult | null = null;
    let version: number;
    let epoch: string;
    if (deltaJson === null) {
      const current = this.#contexts.get(contextId);
      if ((current?.version ?? 0) !== expectedVersion || current === undefined) {
        throw new VersionConflictError(contextId, expectedVersion, current?.version ?? 0);
      }
      ({ version, epoch } = current);
    } else {
      written = this.#writeVersionNow(contextId, contextJson, deltaJson, expectedVersion);
      version = written.context.version;
      epoch = written.context.epoch as string;
    }
    const stored: StoredReceipt = { writeId: write.writeId, version, epoch, insertedAt: readClock(this.#clock) };
    if (receipts === undefined) this.#receipts.set(contextId, new Map([[write.clientId, stored]]));
    else receipts.set(write.clientId, stored);
    return { duplicate: false, written };
  }

  async restoreVersion(contextId: string, context: JsonObject, version: number, expectedVersion?: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const json = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    if (expectedVersion !== undefined) validateVersion(expectedVersion, 'expectedVersion');
    const current = this.#contexts.get(contextId);
    const storedVersion = current?.version ?? 0;
    if (storedVersion >= version || (expectedVersion !== undefined && storedVersion !== expectedVersion)) {
      throw new VersionConflictError(contextId, expectedVersion ?? version, storedVersion);
    }
    const stored: StoredContext = { json, version, insertedAt: readClock(this.#clock), epoch: current?.epoch ?? newEpoch() };
    // No await between the check above and these writes, so no other call can interleave.
    this.#putContext(contextId, stored);
    this.#removeDeltaList(contextId);
    return toContextRecord(contextId, stored);
  }

  async deleteIdleContexts(olderThanTime: number, batchSize: number): Promise<IdleContextsDeleted> {
    validateTimestamp(olderThanTime, 'olderThanTime');
    validateBatchSize(batchSize);
    const turns = new EventLoopTurns(this.#turnIntervalMs);
    let contexts = 0;
    let deltas = 0;
    // A long batch gives the event loop turns, so other calls run in between: each context is
    // checked and deleted with its deltas in one step, so a write that lands during a turn is
    // judged on what it wrote. Contexts written during a turn join the Map's end and are checked too.
    for (const [id, stored] of this.#contexts) {
      if (stored.insertedAt < olderThanTime) {
        this.#removeContext(id);
        deltas += this.#removeDeltaList(id);
        if (++contexts === batchSize) break;
      }
      if (turns.due()) await turns.give();
    }
    return { contexts, deltas };
  }

  async deleteDeltasOlderThan(olderThanTime: number, batchSize: number): Promise<number> {
    validateTimestamp(olderThanTime, 'olderThanTime');
    validateBatchSize(batchSize);
    const turns = new EventLoopTurns(this.#turnIntervalMs);
    let removed = 0;
    // Receipts age with the deltas (not counted: the batch counts deltas).
    for (const id of [...this.#receipts.keys()]) this.#removeReceiptsOlderThan(id, olderThanTime);
    // Deleting the current entry while iterating a Map is safe: iteration continues with the next.
    // Turns are given between contexts only, and each list is taken from the Map after the turn.
    for (const [id, list] of this.#deltas) {
      removed += this.#removeWhere(id, list, (d) => d.insertedAt < olderThanTime, batchSize - removed);
      if (removed === batchSize) break;
      if (turns.due()) await turns.give();
    }
    return removed;
  }

  async deleteDeltasBeyondNewest(keep: number, batchSize: number): Promise<number> {
    validateCount(keep, 'keep');
    validateBatchSize(batchSize);
    const turns = new EventLoopTurns(this.#turnIntervalMs);
    let removed = 0;
    for (const [id, list] of this.#deltas) {
      if (list.length > keep) {
        removed += this.#removeOldest(id, list, Math.min(list.length - keep, batchSize - removed));
        if (removed === batchSize) break;
      }
      if (turns.due()) await turns.give();
    }
    return removed;
  }

  /**
   * The `ChangeNotifier` capability: every write, delete, restore and cleanup deletion of a context
   * in this backend is told to `listener`, after the call's changes are all made. In-process only,
   * so `ready` is resolved at once and `resync` is never needed.
   */
  subscribeChanges(listener: ChangeListener): ChangeSubscription {
    if (listener === null || typeof listener !== 'object' || typeof listener.change !== 'function') {
      throw new ValidationError('listener', `must be an object with change() and resync(), got ${describe(listener)}`);
    }
    this.#listeners.add(listener);
    return {
      ready: Promise.resolve(),
      close: async () => {
        this.#listeners.delete(listener);
      },
    };
  }

  #putContext(contextId: string, stored: StoredContext): void {
    if (!this.#contexts.has(contextId)) this.#contextIds.add(contextId);
    this.#contexts.set(contextId, stored);
    this.#notify(contextId, stored.version);
  }

  #removeContext(contextId: string): boolean {
    if (!this.#contexts.delete(contextId)) return false;
    this.#receipts.delete(contextId);
    this.#contextIds.delete(contextId);
    this.#notify(contextId, null);
    return true;
  }

  #notify(contextId: string, version: number | null): void {
    if (this.#listeners.size === 0) return;
    // Told in a microtask: the calling method finishes its changes first (a write stores its delta
    // after its context), and a listener that throws never reaches the writer.
    const listeners = [...this.#listeners];
    queueMicrotask(() => {
      for (const listener of listeners) {
        if (!this.#listeners.has(listener)) continue;
        try {
          listener.change({ contextId, version });
        } catch {
          // A listener's fault is its own; the other listeners are still told.
        }
      }
    });
  }

  #putDelta(contextId: string, stored: StoredDelta): void {
    const list = this.#deltas.get(contextId);
    if (list === undefined) {
      this.#deltas.set(contextId, [stored]);
      this.#deltaIds.add(contextId);
      return;
    }
    const last = list.at(-1);
    // The common case: each new version is the highest so far, so append in O(1).
    if (last === undefined || last.version < stored.version) {
      list.push(stored);
      return;
    }
    const i = firstAbove(list, stored.version - 1);
    if (list[i]?.version === stored.version) list[i] = stored;
    else list.splice(i, 0, stored);
  }

  /** The deltas of `contextId` with `after < version ≤ upTo`, ascending (a binary search, then a walk). */
  #deltaRecords(contextId: string, after: number, upTo: number): DeltaRecord[] {
    const list = this.#deltas.get(contextId);
    if (list === undefined) return [];
    const records: DeltaRecord[] = [];
    for (let i = firstAbove(list, after); i < list.length && (list[i] as StoredDelta).version <= upTo; i++) {
      records.push(toDeltaRecord(contextId, list[i] as StoredDelta));
    }
    return records;
  }

  #removeReceiptsOlderThan(contextId: string, olderThanTime: number): void {
    const receipts = this.#receipts.get(contextId);
    if (receipts === undefined) return;
    for (const [clientId, stored] of receipts) if (stored.insertedAt < olderThanTime) receipts.delete(clientId);
    if (receipts.size === 0) this.#receipts.delete(contextId);
  }

  #removeDeltaList(contextId: string): number {
    const list = this.#deltas.get(contextId);
    if (list === undefined) return 0;
    this.#deltas.delete(contextId);
    this.#deltaIds.delete(contextId);
    return list.length;
  }

  /** Removes the `count` lowest versions of `list` (the deltas of `contextId`). */
  #removeOldest(contextId: string, list: StoredDelta[], count: number): number {
    if (count >= list.length) return this.#removeDeltaList(contextId);
    list.splice(0, count);
    return count;
  }

  /** Removes up to `max` deltas of `list` (the deltas of `contextId`) that match, in place. */
  #removeWhere(contextId: string, list: StoredDelta[], match: (d: StoredDelta) => boolean, max: number): number {
    let kept = 0;
    let removed = 0;
    for (const d of list) {
      if (removed < max && match(d)) removed++;
      else list[kept++] = d;
    }
    if (kept === 0) this.#removeDeltaList(contextId);
    else list.length = kept;
    return removed;
  }
}

function toContextRecord(contextId: string, stored: StoredContext): ContextRecord {
  return {
    contextId,
    context: JSON.parse(stored.json) as JsonObject,
    version: stored.version,
    insertedAt: stored.insertedAt,
    epoch: stored.epoch,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function toDeltaRecord(contextId: string, stored: StoredDelta): DeltaRecord {
  return {
    contextId,
    delta: JSON.parse(stored.json) as Delta,
    version: stored.version,
    insertedAt: stored.insertedAt,
  };
}

/** The index of the first delta of `list` (sorted by version) with a version above `version`. */
function firstAbove(list: readonly StoredDelta[], version: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as StoredDelta).version <= version) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function findVersion(list: readonly StoredDelta[], version: number): StoredDelta | undefined {
  const d = list[firstAbove(list, version - 1)];
  return d?.version === version ? d : undefined;
}

/**
 * Marks the points of a listing walk between one id and the next, the only points where a long
 * listing gives the event loop a turn (and so lets other calls change what it has yet to read).
 */
const BETWEEN_IDS: unique symbol = Symbol('between ids');

/**
 * Skips `offset` items, then builds at most `limit`, pulling no more from `items` than needed; at
 * a {@link BETWEEN_IDS} mark, gives the event loop a turn once the walk has held it a while.
 */
async function collectPage<T, R>(
  items: Iterable<T | typeof BETWEEN_IDS>,
  offset: number | undefined,
  limit: number | undefined,
  build: (item: T) => R,
  turnIntervalMs: number,
): Promise<R[]> {
  const built: R[] = [];
  const max = limit ?? Infinity;
  if (max === 0) return built;
  const turns = new EventLoopTurns(turnIntervalMs);
  let skipped = 0;
  const skip = offset ?? 0;
  for (const item of items) {
    if (item === BETWEEN_IDS) {
      if (turns.due()) await turns.give();
      continue;
    }
    if (skipped < skip) {
      skipped++;
      continue;
    }
    built.push(build(item as T));
    if (built.length >= max) break;
  }
  return built;
}
