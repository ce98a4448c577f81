import type { ContextRecord, Delta, SyncResult } from '../types.js';

/**
 * One update of `chord.watch`: what takes a holder of the previously yielded state (or of the
 * `version`/`epoch` the watch started from) to the context's current state.
 * - `full`: the whole context (nothing held, a new epoch, too far behind, or deltas pruned);
 * - `delta`: one merged delta from `fromVersion` to `version`, within `epoch`;
 * - `deleted`: the context no longer exists; the watch goes on and yields `full` once it exists again.
 */
export type LiveUpdate =
  | { readonly kind: 'full'; readonly context: ContextRecord }
  | {
      readonly kind: 'delta';
      readonly delta: Delta;
      readonly fromVersion: number;
      readonly version: number;
      /** The epoch both versions belong to (`''` on a backend without epochs). */
      readonly epoch: string;
    }
  | { readonly kind: 'deleted'; readonly contextId: string };

/** Per-call options of `chord.watch`. */
export interface WatchOptions {
  /** The version the watcher already holds; `null` or absent: nothing (the first update is `full`). */
  readonly version?: number | null;
  /** The epoch `version` belongs to; a different current epoch answers `full`. Default: not checked. */
  readonly epoch?: string;
  /** Ends the watch when aborted (the pending `next()` resolves `done`). */
  readonly signal?: AbortSignal;
}

/** What the engine's sync answers, as the live hub reads it: `SyncResult`, named once in src/types.ts. */
export type LiveSyncAnswer = SyncResult;

/**
 * The engine's sync as the hub calls it: what `syncContext(contextId, version, { epoch })`
 * answers, or `null` when the context does not exist.
 */
export type LiveSyncRead = (
  contextId: string,
  version: number | null,
  epoch: string | undefined,
) => Promise<LiveSyncAnswer | null>;

/**
 * How a watch started (see {@link LiveWatch.started}): the context was there (`present`), does not
 * exist and is being waited for (`missing`), or the watch ended before its first read (`ended`).
 */
export type WatchStart = 'present' | 'missing' | 'ended';

/** What `chord.watch` returns: its updates, and a way to learn that it has started. */
export interface LiveWatch extends AsyncIterableIterator<LiveUpdate> {
  /**
   * Resolves once the watch is subscribed to changes and its first read answered (it starts on the
   * first `next()`), telling whether the context existed; rejects with the error that kept it from
   * starting (the one `next()` rejects with). Lets a server answer "unavailable" instead of
   * opening a stream that cannot work.
   */
  started(): Promise<WatchStart>;
}
