import { setTimeout as sleep } from 'node:timers/promises';
import { CHORD_BACKEND_METHODS, SYNC_DELTA_BYTES_FLOOR, hasAtomicRestorer, hasAtomicVersionWriter, hasImmediateSyncReader, hasSyncReader } from '../backend.js';
import type { ChordBackend, ImmediateSyncReader, SyncKnown, SyncRead } from '../backend.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { applyChanges, calculateDelta, calculateTrustedDelta, isEmptyDelta, mergeStoredDeltas, trustedWireDelta } from '../delta/index.js';
import { CallbackError, ChordError, CorruptDataError, NotFoundError, ValidationError, VersionConflictError } from '../errors.js';
import type { Unset } from '../delta/index.js';
import type { ContextRecord, Delta, DeltaRecord, Json, JsonObject } from '../types.js';
import {
  type JsonLimits,
  describe,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateContextId,
  validateCount,
  validateVersion,
} from '../validation.js';
import { resolveCleanupOptions, runCleanup, validateTtl } from './cleanup.js';
import type { CleanupOptions, CleanupReport, ResolvedCleanupOptions } from './cleanup.js';
import { CleanupScheduler } from './cleanup-schedule.js';
import { DEFAULT_SYNC_CACHE_BYTES, KeyedQueue, SyncShare } from './sync-share.js';
import { DEFAULT_WATCH_POLL_MS, LiveHub, validateWatchPollMs } from '../live/index.js';
import type { LiveUpdate, WatchOptions } from '../live/index.js';
import type { CleanupSchedule, StartCleanupOptions } from './cleanup-schedule.js';
import { traceMethods } from './telemetry.js';
import { exclusivePass } from './exclusive-pass.js';

/** Default `deltaThreshold`: sync sends the full context past 100 versions behind; cleanup keeps 100 deltas. */
export const DEFAULT_DELTA_THRESHOLD = 100;
/** Default `deltaTtl`: 24 hours in milliseconds (the unit of the default clock, `Date.now`). */
export const DEFAULT_DELTA_TTL = 24 * 60 * 60 * 1000;
/** Default `contextTtl`: `null`, contexts never expire. */
export const DEFAULT_CONTEXT_TTL = null;
/** Default `maxWriteAttempts`: how often a write without `expectedVersion` is tried when other writers win the race. */
export const DEFAULT_MAX_WRITE_ATTEMPTS = 50;

/** What a context provider returns to `restoreContext`. */
export interface ProvidedContext {
  readonly context: JsonObject;
  /** An integer ≥ 1. */
  readonly version: number;
}

/** Constructor input of {@link Chord}. */
export interface ChordConfig {
  /** Where contexts and deltas are stored. Default: a new `MemoryBackend` on `clock`. */
  readonly backend?: ChordBackend;
  /**
   * The engine's clock, used for cleanup cutoffs; give it the same clock (and unit) as the
   * backend, which stamps `insertedAt`. Default: `Date.now` (milliseconds).
   */
  readonly clock?: () => number;
  /**
   * How many versions behind a client may be and still get a delta (more → the full context), and
   * how many newest deltas per context cleanup keeps. An integer ≥ 0. Default: {@link DEFAULT_DELTA_THRESHOLD}.
   */
  readonly deltaThreshold?: number;
  /** Cleanup deletes deltas older than this, in clock units; `null`: never. Default: {@link DEFAULT_DELTA_TTL} (24 h in ms). */
  readonly deltaTtl?: number | null;
  /** Cleanup deletes contexts not written for longer than this, with their deltas; `null`: never. Default: `null`. */
  readonly contextTtl?: number | null;
  /** Receives the record on `chord.exportContext(id)`, e.g. to archive it. Default: none (exporting throws). */
  readonly exportContext?: (record: ContextRecord) => Promise<void>;
  /**
   * Returns a context from outside (an archive) on `chord.restoreContext(id)`, or `null` when it has
   * none. Default: none (restoring throws).
   */
  readonly contextProvider?: (contextId: string) => Promise<ProvidedContext | null>;
  /**
   * How many times a write without `expectedVersion` reads and retries when another writer stored
   * a version first, with a short random pause between tries, before it throws
   * `VersionConflictError`. An integer ≥ 1. Default: {@link DEFAULT_MAX_WRITE_ATTEMPTS}.
   */
  readonly maxWriteAttempts?: number;
  /**
   * Bounds on each context written (and on `updateContext` changes); larger or deeper values are
   * refused with `ValidationError` before the backend is called. The backend applies its own
   * limits too. Default: nesting up to `DEFAULT_MAX_DEPTH` (100), `DEFAULT_MAX_BYTES` (16 MiB).
   */
  readonly limits?: JsonLimits;
  /**
   * Byte budget of the cache of merged deltas that syncs share (per context, epoch, from and to
   * version); `0` turns it off. An integer ≥ 0. Default: {@link DEFAULT_SYNC_CACHE_BYTES} (16 MiB).
   */
  readonly syncCacheBytes?: number;
  /**
   * How often, in ms, `watch` re-reads a watched context when the backend has no change notices
   * (`subscribeChanges`); backends with them (every built-in one) are never polled. An integer
   * from 1 to 2³¹−1. Default: {@link DEFAULT_WATCH_POLL_MS} (1000).
   */
  readonly watchPollMs?: number;
}

/** Per-call options of `setContext` and `updateContext`. */
export interface WriteOptions {
  /**
   * Write only if the stored version is this one (`0`: only if no context exists); otherwise throw
   * `VersionConflictError` and write nothing. Default: write on top of whatever is stored, retrying
   * if another writer gets in first.
   */
  readonly expectedVersion?: number;
}

/** One value in the changes given to `updateContext`: JSON, or {@link unset} to delete the key. */
export type ContextChange = Json | Unset | { readonly [key: string]: ContextChange };

/** The changes given to `updateContext`: a JSON object whose values (at any depth) may be `unset`. */
export type ContextChanges = { readonly [key: string]: ContextChange };

/** What `setContext` and `updateContext` return. */
export interface WriteResult {
  /** The context as stored after the call. */
  readonly context: ContextRecord;
  /** The delta this call stored, or `null` when the call changed nothing and wrote nothing. */
  readonly delta: DeltaRecord | null;
}

/**
 * The answer to `syncContext`. `epoch` is the context's current epoch (absent on a backend without
 * epochs). Answers may be shared between concurrent callers: treat them as read-only.
 */
export type SyncResult =
  | { readonly kind: 'full'; readonly context: ContextRecord }
  | { readonly kind: 'delta'; readonly delta: Delta; readonly fromVersion: number; readonly version: number; readonly epoch?: string }
  | { readonly kind: 'no_change'; readonly version: number; readonly epoch?: string };

/** Per-call options of `syncContext`. */
export interface SyncOptions {
  /** The epoch the client's version belongs to; another epoch than the context's answers `full`. */
  readonly epoch?: string;
}

const CONFIG_KEYS = new Set([
  'backend',
  'clock',
  'deltaThreshold',
  'deltaTtl',
  'contextTtl',
  'exportContext',
  'contextProvider',
  'maxWriteAttempts',
  'limits',
  'syncCacheBytes',
  'watchPollMs',
]);
const WRITE_OPTION_KEYS = new Set(['expectedVersion']);

/** Longest pause between two write attempts, in ms; pauses grow from 1 ms up to this. */
const MAX_RETRY_PAUSE_MS = 64;

function validateOptionalFunction(value: unknown, argument: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new ValidationError(argument, `must be a function, got ${describe(value)}`);
  }
}

function validateBackend(value: unknown): asserts value is ChordBackend {
  if (value === null || typeof value !== 'object') {
    throw new ValidationError('config.backend', `must be a ChordBackend object, got ${describe(value)}`);
  }
  for (const method of CHORD_BACKEND_METHODS) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new ValidationError('config.backend', `has no method ${method}()`);
    }
  }
}

function validateWriteOptions(options: unknown): number | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError('options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!WRITE_OPTION_KEYS.has(key)) {
      throw new ValidationError(`options.${key}`, 'is not a write option (known: expectedVersion)');
    }
  }
  const { expectedVersion } = options as { expectedVersion?: unknown };
  if (expectedVersion === undefined) return undefined;
  validateVersion(expectedVersion, 'options.expectedVersion');
  return expectedVersion;
}

/**
 * The sync engine: per context id, the current state (the context) and a delta for every version,
 * so a client that holds version `v` can catch up with one merged delta.
 *
 * Writes are compare-and-set on backends with `writeVersion` (all built-in ones), so concurrent
 * writers, in one process or many, never produce duplicate versions or lose an update.
 */
export class Chord {
  readonly #backend: ChordBackend;
  readonly #clock: () => number;
  readonly #deltaThreshold: number;
  readonly #deltaTtl: number | null;
  readonly #contextTtl: number | null;
  readonly #maxWriteAttempts: number;
  readonly #limits: Required<JsonLimits>;
  readonly #exportContext: ChordConfig['exportContext'];
  readonly #contextProvider: ChordConfig['contextProvider'];
  readonly #syncShare: SyncShare;
  /** The backend, when it answers sync reads at once (in this process's memory). */
  readonly #immediate: ImmediateSyncReader | undefined;
  readonly #writes = new KeyedQueue();
  readonly #watchPollMs: number;
  #live: LiveHub | undefined;

  constructor(config: ChordConfig = {}) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new ValidationError('config', `must be an object, got ${describe(config)}`);
    }
    for (const key of Object.keys(config)) {
      if (!CONFIG_KEYS.has(key)) {
        throw new ValidationError(`config.${key}`, `is not a Chord option (known: ${[...CONFIG_KEYS].join(', ')})`);
      }
    }
    validateOptionalFunction(config.clock, 'config.clock');
    validateOptionalFunction(config.exportContext, 'config.exportContext');
    validateOptionalFunction(config.contextProvider, 'config.contextProvider');
    const deltaThreshold = config.deltaThreshold === undefined ? DEFAULT_DELTA_THRESHOLD : config.deltaThreshold;
    validateCount(deltaThreshold, 'config.deltaThreshold');
    const deltaTtl = config.deltaTtl === undefined ? DEFAULT_DELTA_TTL : config.deltaTtl;
    validateTtl(deltaTtl, 'config.deltaTtl');
    const contextTtl = config.contextTtl === undefined ? DEFAULT_CONTEXT_TTL : config.contextTtl;
    validateTtl(contextTtl, 'config.contextTtl');
    const maxWriteAttempts = config.maxWriteAttempts === undefined ? DEFAULT_MAX_WRITE_ATTEMPTS : config.maxWriteAttempts;
    validateCount(maxWriteAttempts, 'config.maxWriteAttempts');
    if (maxWriteAttempts < 1) throw new ValidationError('config.maxWriteAttempts', 'must be at least 1');
    this.#limits = resolveLimits(config.limits);
    const syncCacheBytes = config.syncCacheBytes === undefined ? DEFAULT_SYNC_CACHE_BYTES : config.syncCacheBytes;
    validateCount(syncCacheBytes, 'config.syncCacheBytes');
    this.#syncShare = new SyncShare(syncCacheBytes);
    const watchPollMs = config.watchPollMs === undefined ? DEFAULT_WATCH_POLL_MS : config.watchPollMs;
    validateWatchPollMs(watchPollMs, 'config.watchPollMs');
    this.#watchPollMs = watchPollMs;

    this.#clock = config.clock ?? Date.now;
    // `=== undefined`, not `??`: a null backend is a mistake to report, not a request for the default.
    const backend = config.backend === undefined ? new MemoryBackend({ clock: this.#clock }) : config.backend;
    validateBackend(backend);
    this.#backend = backend;
    this.#immediate = hasImmediateSyncReader(backend) ? backend : undefined;
    this.#deltaThreshold = deltaThreshold;
    this.#deltaTtl = deltaTtl;
    this.#contextTtl = contextTtl;
    this.#maxWriteAttempts = maxWriteAttempts;
    this.#exportContext = config.exportContext;
    this.#contextProvider = config.contextProvider;
  }

  /** The backend this engine stores into. */
  get backend(): ChordBackend {
    return this.#backend;
  }

  /**
   * Replaces the context of `contextId` with `context`. The first write creates version 1 (its
   * delta is from `{}`); each write that changes something stores the next version and its delta.
   * A write that changes nothing stores nothing and returns the current record with `delta: null`.
   *
   * @throws ValidationError when an argument is not acceptable (the context must be a JSON object).
   * @throws VersionConflictError when `options.expectedVersion` is not the stored version, or
   *   another writer kept winning for `maxWriteAttempts` tries.
   */
  async setContext(contextId: string, context: JsonObject, options?: WriteOptions): Promise<WriteResult> {
    validateContextId(contextId);
    serializeJsonObject(context, 'context', this.#limits);
    const expectedVersion = validateWriteOptions(options);
    return this.#write(contextId, expectedVersion, () => context);
  }

  /**
   * Deep-merges `changes` into the stored context: objects recurse, any other value (arrays and
   * `null` included) replaces, and the `unset` sentinel deletes the key at any depth. Then writes
   * like {@link setContext}.
   *
   * @throws NotFoundError when the context does not exist.
   * @throws ValidationError, VersionConflictError as for {@link setContext}.
   */
  async updateContext(contextId: string, changes: ContextChanges, options?: WriteOptions): Promise<WriteResult> {
    validateContextId(contextId);
    // Validated up front, so bad changes are reported as such even when the context is missing.
    applyChanges({}, changes, this.#limits.maxDepth);
    const expectedVersion = validateWriteOptions(options);
    return this.#write(contextId, expectedVersion, (current) => {
      if (current === null) throw new NotFoundError(contextId);
      const next = applyChanges(current.context, changes, this.#limits.maxDepth);
      // The merge can make the context deeper or larger than either part was.
      serializeJsonObject(next, 'context', this.#limits);
      return next;
    });
  }

  /** The stored context of `contextId`, or `null` when there is none. */
  async getContext(contextId: string): Promise<ContextRecord | null> {
    validateContextId(contextId);
    return this.#backend.getContext(contextId);
  }

  /** Deletes the context of `contextId` and all its deltas; returns whether the context existed. */
  async deleteContext(contextId: string): Promise<boolean> {
    validateContextId(contextId);
    // Context first, then deltas: a writer that recreates the context in between can at worst lose
    // its first delta, which sync sees as a gap (→ full context); no stale delta outlives the call.
    try {
      const removed = await this.#backend.deleteContext(contextId);
      await this.#backend.deleteDeltasForContext(contextId);
      return removed > 0;
    } finally {
      this.#syncShare.changed(contextId);
    }
  }

  /**
   * What a client holding `clientVersion` (`null`: nothing) of epoch `options.epoch` needs to
   * reach the current context:
   * - `full` when it holds nothing, holds a version of another epoch (an earlier life of the id),
   *   claims a version ahead of the server, is more than `deltaThreshold` versions behind, any
   *   delta in between is no longer stored (or not readable), or the deltas add up to more than
   *   the context;
   * - `no_change` when it is current;
   * - otherwise `delta`: one delta from `fromVersion` (its version) to `version`, holding only what
   *   a client needs to apply it.
   * `version` is always the context's current version. Identical syncs in flight share one read,
   * and merged deltas are shared between clients (see `syncCacheBytes`).
   *
   * @throws NotFoundError when the context does not exist.
   */
  async syncContext(contextId: string, clientVersion: number | null, options?: SyncOptions): Promise<SyncResult> {
    validateContextId(contextId);
    if (clientVersion !== null) validateVersion(clientVersion, 'clientVersion');
    const epoch = validateSyncOptions(options);
    // A backend in this process's memory answers at once: no round trip to share, no promise to wait on.
    if (clientVersion !== null && this.#immediate !== undefined) return this.#syncNow(this.#immediate, contextId, clientVersion, epoch) ?? this.#full(contextId);
    return this.#syncShare.single(contextId, `${clientVersion ?? ''}\u0000${epoch ?? ''}`, () => this.#sync(contextId, clientVersion, epoch));
  }

  #syncNow(backend: ImmediateSyncReader, contextId: string, clientVersion: number, epoch: string | undefined): SyncResult | undefined {
    for (let known = this.#syncShare.known(contextId, clientVersion, epoch); ; known = undefined) {
      let read: SyncRead | null;
      try {
        read = backend.readForSyncNow(contextId, clientVersion, this.#deltaThreshold, known);
      } catch (error) {
        if (isCorruptDelta(error)) return undefined;
        throw error;
      }
      const answer = this.#answer(contextId, clientVersion, epoch, read, known);
      if (answer !== REREAD) return answer;
      if (known === undefined) return undefined;
    }
  }

  async #sync(contextId: string, clientVersion: number | null, epoch: string | undefined): Promise<SyncResult> {
    if (clientVersion === null) return this.#full(contextId);
    // Tell the backend which merge is cached for this client, so it reads only the head when the
    // context has not moved since (the common case: many clients at one version between writes).
    let answer = await this.#readAndAnswer(contextId, clientVersion, epoch, this.#syncShare.known(contextId, clientVersion, epoch));
    // The cached merge went (evicted) between the hint and the answer: read the deltas this time.
    if (answer === REREAD) answer = await this.#readAndAnswer(contextId, clientVersion, epoch, undefined);
    return answer === undefined || answer === REREAD ? this.#full(contextId) : answer;
  }

  async #readAndAnswer(contextId: string, clientVersion: number, epoch: string | undefined, known: SyncKnown | undefined): Promise<SyncResult | typeof REREAD | undefined> {
    let read: SyncRead | null;
    try {
      read = await this.#readForSync(contextId, clientVersion, known);
    } catch (error) {
      // A delta row that is not what chord-sync wrote can't be sent; the context row may be sound.
      if (isCorruptDelta(error)) return undefined;
      throw error;
    }
    return this.#answer(contextId, clientVersion, epoch, read, known);
  }

  /**
   * The answer to a sync from what the backend read; `undefined` when it must be the full context
   * and that was not read, {@link REREAD} when the backend matched a cached merge that is gone.
   */
  #answer(
    contextId: string,
    clientVersion: number,
    epoch: string | undefined,
    read: SyncRead | null,
    known: SyncKnown | undefined,
  ): SyncResult | typeof REREAD | undefined {
    if (read === null) throw new NotFoundError(contextId);
    const { version } = read;
    const sameLife = epoch === undefined || epoch === read.epoch;
    if (sameLife && clientVersion === version) return read.epoch === undefined ? { kind: 'no_change', version } : { kind: 'no_change', version, epoch: read.epoch };
    const deltas = read.deltas;
    // With `known`, the backend read only what follows the merge this engine holds (nothing when
    // the context is still there); without, everything from the client's version.
    const base = read.known === true && known !== undefined ? known.version : clientVersion;
    if (read.known === true) {
      if (known === undefined || !sameLife || read.epoch !== known.epoch) return REREAD;
      if (base === version) {
        const cached = this.#syncShare.cached(contextId, known.epoch, clientVersion, version);
        return cached === undefined ? REREAD : withEpoch({ kind: 'delta' as const, delta: cached, fromVersion: clientVersion, version }, read.epoch);
      }
    }
    const usable =
      sameLife &&
      base < version &&
      deltas.length === version - base &&
      deltas.every((d, i) => d.version === base + 1 + i);
    if (!usable && read.known === true) return REREAD;
    if (!usable) {
      if (read.context === null) return undefined;
      const record: ContextRecord = { contextId, context: read.context, version, insertedAt: read.insertedAt };
      return { kind: 'full', context: read.epoch === undefined ? record : { ...record, epoch: read.epoch } };
    }
    let delta: Delta;
    try {
      // The stored merge up to `base`, when the backend read only what follows it; it can go
      // (evicted) between the read and now, and then the deltas are read from the client's version.
      const prefix = base === clientVersion ? undefined : this.#syncShare.cachedStored(contextId, read.epoch as string, clientVersion, base);
      if (base !== clientVersion && prefix === undefined) return REREAD;
      delta = this.#syncShare.merged(contextId, read.epoch, clientVersion, version, () => {
        // Stored rows are checked here, once per merge (then cached): their structure, not the
        // values validated when they were written. One that is not a delta makes this a full
        // answer below instead of a wrong state on the client.
        const stored = mergeStoredDeltas(
          deltas.map((d) => d.delta),
          prefix?.stored,
        );
        if (prefix === undefined) return { stored, wire: trustedWireDelta(stored) };
        let storedBytes = prefix.storedBytes;
        for (const d of deltas) storedBytes += JSON.stringify(d.delta).length;
        return { stored, wire: trustedWireDelta(stored), storedBytes };
      });
    } catch (error) {
      // A stored delta that does not merge was not written by chord-sync: the context still serves.
      if (error instanceof ValidationError) return undefined;
      throw error;
    }
    return withEpoch({ kind: 'delta' as const, delta, fromVersion: clientVersion, version }, read.epoch);
  }

  async #full(contextId: string): Promise<SyncResult> {
    const context = await this.#backend.getContext(contextId);
    if (context === null) throw new NotFoundError(contextId);
    return { kind: 'full', context };
  }

  /**
   * The reads of a sync: one call when the backend can; else the context, then its deltas (kept
   * only when complete and no larger than the context, as a SyncReader would).
   */
  #readForSync(contextId: string, clientVersion: number, known: SyncKnown | undefined): Promise<SyncRead | null> {
    const backend = this.#backend;
    // Not async here: the backend's own promise is awaited once, by #readAndAnswer.
    if (hasSyncReader(backend)) return known === undefined ? backend.readForSync(contextId, clientVersion, this.#deltaThreshold) : backend.readForSync(contextId, clientVersion, this.#deltaThreshold, known);
    return this.#readForSyncByParts(backend, contextId, clientVersion);
  }

  async #readForSyncByParts(backend: ChordBackend, contextId: string, clientVersion: number): Promise<SyncRead | null> {
    const current = await backend.getContext(contextId);
    if (current === null) return null;
    const head = { version: current.version, insertedAt: current.insertedAt, ...(current.epoch === undefined ? {} : { epoch: current.epoch }) };
    const behind = current.version - clientVersion;
    if (behind === 0) return { ...head, deltas: [], context: null };
    if (behind < 0 || behind > this.#deltaThreshold) return { ...head, deltas: [], context: current.context };
    const deltas = (await backend.getDeltas(contextId, clientVersion)).filter((d) => d.version <= current.version);
    const budget = Math.max(JSON.stringify(current.context).length, SYNC_DELTA_BYTES_FLOOR);
    let size = 0;
    for (const d of deltas) size += JSON.stringify(d.delta).length;
    if (deltas.length !== behind || size > budget) return { ...head, deltas: [], context: current.context };
    return { ...head, deltas, context: null };
  }

  /**
   * Watches `contextId`: first what `syncContext(contextId, version, { epoch })` would answer,
   * unless that is no change (a context that does not exist yet is waited for; one that a given
   * `version` can no longer be found in yields `deleted`); then, every time the context changes —
   * written by this `Chord` or by any other process on the same storage — one update taking a
   * holder of the last yielded state to the current one. Never `no_change`; a slow consumer gets
   * one update spanning every version it missed, never a queue. `deleted` when the context goes,
   * then `full` once it exists again. Ends (`done`) on `signal` abort or `return()`; a failed read
   * rejects `next()` and ends it.
   *
   * Changes are pushed by backends with `subscribeChanges` (every built-in one); other backends
   * are re-read every `watchPollMs`. However many watchers this `Chord` has on a context, a change
   * costs one backend read and one merged delta for all that held the same state.
   *
   * @throws ValidationError (at once) when `contextId` or an option is not acceptable.
   */
  watch(contextId: string, options?: WatchOptions): AsyncIterableIterator<LiveUpdate> {
    this.#live ??= new LiveHub(
      this.#backend,
      async (id, version, epoch) => {
        try {
          return await this.syncContext(id, version, epoch === undefined ? undefined : { epoch });
        } catch (error) {
          if (error instanceof NotFoundError) return null;
          throw error;
        }
      },
      this.#watchPollMs,
      // A notice tells of a change the engine did not make: syncs after it must not join older reads.
      (id) => this.#syncShare.changed(id),
    );
    return this.#live.watch(contextId, options);
  }

  /**
   * Hands the stored record of `contextId` to the configured `exportContext` callback and returns it.
   *
   * @throws ValidationError when no `exportContext` callback is configured.
   * @throws NotFoundError when the context does not exist.
   */
  async exportContext(contextId: string): Promise<ContextRecord> {
    validateContextId(contextId);
    const exporter = this.#exportContext;
    if (exporter === undefined) {
      throw new ValidationError('config.exportContext', 'no exportContext callback is configured, so there is nowhere to export to');
    }
    const record = await this.#backend.getContext(contextId);
    if (record === null) throw new NotFoundError(contextId);
    await callback('exportContext', contextId, () => exporter(record));
    return record;
  }

  /**
   * Asks the configured `contextProvider` for `contextId` and stores what it returns at the
   * provided version, then deletes the context's stored deltas: none of them leads to the restored
   * version, so clients get the full context on their next sync. Restoring the version and
   * context already stored changes nothing.
   *
   * On a backend with `restoreVersion` (every built-in one) the version check and the write are
   * one step: a write that lands between the engine's read and the restore (from another process;
   * this process queues its own writes to the context) makes the restore throw
   * `VersionConflictError`, so an acknowledged write is never overwritten. On a backend without
   * it, a racing write may be overwritten (its clients then get a full context, never a wrong
   * delta).
   *
   * @throws ValidationError when no `contextProvider` is configured or it returns something invalid.
   * @throws NotFoundError when the provider returns `null`.
   * @throws VersionConflictError when the provided version is lower than the stored one, or equal
   *   to it with a different context (clients at that version would silently diverge).
   */
  async restoreContext(contextId: string): Promise<ContextRecord> {
    validateContextId(contextId);
    const provider = this.#contextProvider;
    if (provider === undefined) {
      throw new ValidationError('config.contextProvider', 'no contextProvider is configured, so there is nothing to restore from');
    }
    const provided: unknown = await callback('contextProvider', contextId, () => provider(contextId));
    if (provided === null) {
      throw new NotFoundError(contextId, `context ${JSON.stringify(contextId)} not found by the contextProvider`);
    }
    if (typeof provided !== 'object' || Array.isArray(provided)) {
      throw new ValidationError('contextProvider result', `must be { context, version } or null, got ${describe(provided)}`);
    }
    const { context: candidate, version } = provided as { context?: unknown; version?: unknown };
    serializeJsonObject(candidate, 'contextProvider result.context', this.#limits);
    const context = candidate as JsonObject;
    validateVersion(version, 'contextProvider result.version');
    if (version < 1) throw new ValidationError('contextProvider result.version', 'must be at least 1 (0 means no context)');
    // A context at the largest safe version could never be written again: every write would fail.
    if (version >= Number.MAX_SAFE_INTEGER) {
      throw new ValidationError('contextProvider result.version', `must be below ${Number.MAX_SAFE_INTEGER}, so the restored context can be written on`);
    }
    return this.#writes.run(contextId, () => this.#changing(contextId, () => this.#restore(contextId, context, version)));
  }

  async #restore(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    const backend = this.#backend;
    const current = await backend.getContext(contextId);
    if (current !== null) {
      if (version < current.version) throw new VersionConflictError(contextId, version, current.version);
      if (version === current.version) {
        if (isEmptyDelta(calculateDelta(current.context, context))) return current;
        throw new VersionConflictError(contextId, version, current.version);
      }
    }
    // The backend writes only if the stored version is still the one just read, so a write that
    // landed since (from another process) is never overwritten: the restore fails with
    // VersionConflictError instead, and the caller decides.
    if (hasAtomicRestorer(backend)) return backend.restoreVersion(contextId, context, version, current?.version ?? 0);
    // Context first, then deltas: a delta a racing writer adds on top of the restored version may
    // be deleted too, which sync reports as a gap (full context) rather than a delta from elsewhere.
    const record = await backend.setContext(contextId, context, version);
    await backend.deleteDeltasForContext(contextId);
    return record;
  }

  /**
   * Deletes what is no longer needed, in three steps: contexts idle longer than `contextTtl` with
   * their deltas; deltas older than `deltaTtl`; deltas beyond the newest `deltaThreshold` of each
   * context. On backends with bulk cleanup (all built-in ones) each step is a few set-based
   * statements in batches of `batchSize`, whatever the table size. Returns what was deleted.
   */
  async cleanup(options?: CleanupOptions): Promise<CleanupReport> {
    const resolved = this.#resolveCleanupOptions(options, 'options');
    return runCleanup(this.#backend, resolved, readClock(this.#clock));
  }

  /**
   * Runs {@link cleanup} every `intervalMs` milliseconds after the previous run ended (runs never
   * overlap). Errors go to `onError` and the schedule goes on; its timers never keep the process
   * alive. Returns a handle to stop it, re-time it, or change its options.
   */
  startCleanup(options: StartCleanupOptions): CleanupSchedule {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ValidationError('options', `must be an object with intervalMs, got ${describe(options)}`);
    }
    const { intervalMs, onError, onReport, ...cleanupOptions } = options;
    return new CleanupScheduler(
      (o) => exclusivePass(this.#backend, () => this.cleanup(o)),
      (o) => void this.#resolveCleanupOptions(o, 'options'),
      intervalMs,
      cleanupOptions,
      onError,
      onReport,
    );
  }

  #resolveCleanupOptions(options: unknown, argument: string): ResolvedCleanupOptions {
    return resolveCleanupOptions(
      options,
      { deltaTtl: this.#deltaTtl, contextTtl: this.#contextTtl, deltaThreshold: this.#deltaThreshold },
      argument,
    );
  }

  /**
   * Read, compute, compare-and-set, and on a lost race (without `expectedVersion`) start over from
   * a fresh read, so the change is always applied to the latest stored context.
   */
  #write(
    contextId: string,
    expectedVersion: number | undefined,
    compute: (current: ContextRecord | null) => JsonObject,
  ): Promise<WriteResult> {
    // Writes to one context from this process go one at a time, so they never race each other:
    // only other processes can make a compare-and-set fail.
    return this.#writes.run(contextId, () => this.#changing(contextId, () => this.#writeNow(contextId, expectedVersion, compute)));
  }

  /**
   * Runs a write of `contextId`; once it ends (stored, refused or failed: a failed one may still have
   * been stored), syncs no longer join reads that started before it, so a sync made after a write
   * returned sees it.
   */
  async #changing<T>(contextId: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } finally {
      this.#syncShare.changed(contextId);
    }
  }

  async #writeNow(
    contextId: string,
    expectedVersion: number | undefined,
    compute: (current: ContextRecord | null) => JsonObject,
  ): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.#backend.getContext(contextId);
      const readVersion = current?.version ?? 0;
      if (expectedVersion !== undefined && expectedVersion !== readVersion) {
        throw new VersionConflictError(contextId, expectedVersion, readVersion);
      }
      const next = compute(current);
      const delta = calculateTrustedDelta(current?.context ?? {}, next);
      // A missing context is created even by an empty change (`setContext(id, {})`): the caller
      // asked for it to exist.
      // The trusted diff returns {} exactly when nothing changed (isEmptyDelta would validate it again).
      if (current !== null && Object.keys(delta).length === 0) return { context: current, delta: null };
      try {
        return await this.#store(contextId, next, delta, readVersion);
      } catch (error) {
        const retry =
          error instanceof VersionConflictError && expectedVersion === undefined && attempt < this.#maxWriteAttempts;
        if (!retry) throw error;
      }
      await sleep(retryPause(attempt));
    }
  }

  async #store(contextId: string, context: JsonObject, delta: Delta, readVersion: number): Promise<WriteResult> {
    const backend = this.#backend;
    if (hasAtomicVersionWriter(backend)) {
      const written = await backend.writeVersion(contextId, context, delta, readVersion);
      return { context: written.context, delta: written.delta };
    }
    // A seed backend has no compare-and-set: this is NOT atomic, and two writers racing here can
    // both store the same version. Delta first, so a crash in between leaves a delta past the
    // stored version (ignored by sync) rather than a context without its delta.
    const deltaRecord = await backend.setDelta(contextId, delta, readVersion + 1);
    const contextRecord = await backend.setContext(contextId, context, readVersion + 1);
    return { context: contextRecord, delta: deltaRecord };
  }
}
// Each public method publishes on its chord-sync:<method> TracingChannel (src/engine/telemetry.ts).
traceMethods(Chord.prototype);

/** Runs a user callback; whatever it throws (a ChordError aside) becomes a CallbackError keeping it as `cause`. */
async function callback<T>(name: string, contextId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ChordError) throw error;
    throw new CallbackError(name, contextId, error instanceof Error ? error.message : describe(error), { cause: error });
  }
}

function validateSyncOptions(options: unknown): string | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ValidationError('options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'epoch') throw new ValidationError(`options.${key}`, 'is not a sync option (known: epoch)');
  }
  const { epoch } = options as { epoch?: unknown };
  if (epoch === undefined) return undefined;
  if (typeof epoch !== 'string' || epoch === '' || epoch.length > MAX_EPOCH_LENGTH) {
    throw new ValidationError('options.epoch', `must be a non-empty string of at most ${MAX_EPOCH_LENGTH} characters, got ${describe(epoch)}`);
  }
  return epoch;
}

/** Longest epoch a client may send; built-in backends make 22-character ones. */
const MAX_EPOCH_LENGTH = 128;

/** What {@link Chord}'s sync answer is when the cached merge a backend read relied on has gone. */
const REREAD = Symbol('reread');

function withEpoch<T extends object>(answer: T, epoch: string | undefined): T & { epoch?: string } {
  return epoch === undefined ? answer : { ...answer, epoch };
}

/** Stored data that chord-sync did not write, at a delta (not the context row). */
function isCorruptDelta(error: unknown): boolean {
  return error instanceof CorruptDataError && error.what === 'delta';
}

/** Exponential backoff with full jitter, so writers that lost together don't collide again. */
function retryPause(attempt: number): number {
  const ceiling = Math.min(MAX_RETRY_PAUSE_MS, 2 ** attempt);
  return Math.floor(Math.random() * ceiling);
}
