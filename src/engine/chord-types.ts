// The public types of the engine (what `Chord` takes and returns) and their defaults; `chord.ts`
// re-exports them, so this file is an implementation detail of the package's layout.
import type { ChordBackend, WriteId, WriteReceipt } from '../backend.js';
import type { Unset } from '../delta/index.js';
import type { ContextRecord, DeltaRecord, Json, JsonObject } from '../types.js';

// Defined with the shared types, so live/ can name it without importing the engine.
export type { SyncResult } from '../types.js';
import type { JsonLimits } from '../validation.js';

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
  /**
   * Write only if the context's current epoch is this one (a context that does not exist has
   * none); otherwise throw `VersionConflictError` and write nothing. Default: any epoch.
   */
  readonly epoch?: string;
  /**
   * Apply this write at most once: a write whose `writeId` is at or below the last one stored for
   * `(contextId, clientId)` writes nothing and returns `duplicate`. What the sync route uses for
   * client writes; needs a backend with the `WriteIdRecorder` capability (every built-in one).
   */
  readonly writeId?: WriteId;
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
  /**
   * Only with `options.writeId`, when that write had been applied already: what it produced.
   * Nothing was written now; `context` is the context as stored now.
   */
  readonly duplicate?: WriteReceipt;
}

/** Per-call options of `syncContext`. */
export interface SyncOptions {
  /** The epoch the client's version belongs to; another epoch than the context's answers `full`. */
  readonly epoch?: string;
}
