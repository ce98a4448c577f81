import type { ChordBackend } from '../backend.js';
import { applyChanges } from '../delta/index.js';
import { NotFoundError, ValidationError } from '../errors.js';
import type { ContextRecord, JsonObject } from '../types.js';
import { type JsonLimits, describe, readClock, serializeJsonObject, validateContextId, validateVersion } from '../validation.js';
import { resolveCleanupOptions, runCleanup } from './cleanup.js';
import type { CleanupOptions, CleanupReport, ResolvedCleanupOptions } from './cleanup.js';
import { CleanupScheduler } from './cleanup-schedule.js';
import type { CleanupSchedule, StartCleanupOptions } from './cleanup-schedule.js';
import { LiveHub } from '../live/index.js';
import type { LiveWatch, WatchOptions } from '../live/index.js';
import { type WriteControl, resolveChordConfig, validateSyncOptions, validateWriteOptions } from './chord-options.js';
import type { ChordConfig, ContextChanges, SyncOptions, SyncResult, WriteOptions, WriteResult } from './chord-types.js';
import { exclusivePass } from './exclusive-pass.js';
import { KeyedQueue } from './keyed-queue.js';
import { callback, restoreVersion, validateProvidedContext } from './restore.js';
import { SyncAnswerer } from './sync-answer.js';
import { SyncShare } from './sync-share.js';
import { traceMethods } from './telemetry.js';
import { writeWithRetries } from './write-loop.js';

// The engine's public types live in chord-types.ts, its pieces beside it: option checks
// (chord-options.ts), the write retry loop (write-loop.ts), the sync answer (sync-answer.ts) and
// restore (restore.ts). `Chord` wires them together.
export { DEFAULT_CONTEXT_TTL, DEFAULT_DELTA_THRESHOLD, DEFAULT_DELTA_TTL, DEFAULT_MAX_WRITE_ATTEMPTS } from './chord-types.js';
export type {
  ChordConfig,
  ContextChange,
  ContextChanges,
  ProvidedContext,
  SyncOptions,
  SyncResult,
  WriteOptions,
  WriteResult,
} from './chord-types.js';

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
  readonly #syncs: SyncAnswerer;
  readonly #writes = new KeyedQueue();
  readonly #watchPollMs: number;
  #live: LiveHub | undefined;

  constructor(config: ChordConfig = {}) {
    const resolved = resolveChordConfig(config);
    this.#backend = resolved.backend;
    this.#clock = resolved.clock;
    this.#deltaThreshold = resolved.deltaThreshold;
    this.#deltaTtl = resolved.deltaTtl;
    this.#contextTtl = resolved.contextTtl;
    this.#maxWriteAttempts = resolved.maxWriteAttempts;
    this.#limits = resolved.limits;
    this.#exportContext = resolved.exportContext;
    this.#contextProvider = resolved.contextProvider;
    this.#watchPollMs = resolved.watchPollMs;
    this.#syncShare = new SyncShare(resolved.syncCacheBytes);
    this.#syncs = new SyncAnswerer(resolved.backend, resolved.deltaThreshold, this.#syncShare);
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
    const control = validateWriteOptions(options, this.#backend);
    return this.#write(contextId, control, () => context);
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
    const control = validateWriteOptions(options, this.#backend);
    return this.#write(contextId, control, (current) => {
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
    return this.#syncs.answer(contextId, clientVersion, epoch);
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
  watch(contextId: string, options?: WatchOptions): LiveWatch {
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
    const { context, version } = validateProvidedContext(provided, this.#limits);
    return this.#writes.run(contextId, () => this.#changing(contextId, () => restoreVersion(this.#backend, contextId, context, version)));
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

  #write(
    contextId: string,
    control: WriteControl,
    compute: (current: ContextRecord | null) => JsonObject,
  ): Promise<WriteResult> {
    // Writes to one context from this process go one at a time, so they never race each other:
    // only other processes can make a compare-and-set fail.
    return this.#writes.run(contextId, () =>
      this.#changing(contextId, () => writeWithRetries(this.#backend, this.#maxWriteAttempts, contextId, control, compute)),
    );
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
}
// Each public method publishes on its chord-sync:<method> TracingChannel (src/engine/telemetry.ts).
traceMethods(Chord.prototype);
