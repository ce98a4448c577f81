import type { SyncResult } from '../engine/chord.js';
import type { LiveUpdate, WatchOptions } from '../live/index.js';

/**
 * What the sync handler needs of a `Chord`: its sync and its watch. A `Chord` is one; the type is
 * this narrow so that a wrapper (one adding logging, say) can stand in for it.
 */
export interface SyncSource {
  syncContext(contextId: string, clientVersion: number | null, options?: { epoch?: string }): Promise<SyncResult>;
  watch(contextId: string, options?: WatchOptions): AsyncIterableIterator<LiveUpdate>;
}
