import type { SyncKnown } from '../backend.js';
import type { Delta } from '../types.js';

/** Default byte budget of the merged-delta cache of one `Chord`: 16 MiB of delta JSON. */
export const DEFAULT_SYNC_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * The sync work many clients share: identical syncs in flight share one backend read (single
 * flight), and a merged delta, once built, is kept per (context, epoch, from, to) within a byte
 * budget, so a thousand clients at the same version cost one merge. Only epoch-bearing answers are
 * cached: without an epoch a recreated context could reuse the same versions for other data.
 */
export class SyncShare {
  readonly #budget: number;
  // Per context id, then per (version, epoch) asked from: the reads in flight that a sync may join.
  // A change known here drops the context's entry, so no sync that must see it joins a read
  // started before it (that read's snapshot may predate the change).
  #inFlight = new Map<string, Map<string, Promise<unknown>>>();
  // A Map keeps insertion order: re-inserting on a hit makes it least-recently-used first.
  readonly #merged = new Map<string, MergedEntry>();
  // Per (context, from): the newest cached merge from there, so a sync can tell the backend what it
  // holds and have it skip reading those deltas again (SyncReader's `known`). Bounded with #merged:
  // an evicted entry takes its pointer with it.
  readonly #newest = new Map<string, MergedEntry>();
  #bytes = 0;

  constructor(budget: number) {
    this.#budget = budget;
  }

  /**
   * Runs `read` once for all callers asking about `contextId` with the same `key` while it is in
   * flight, unless {@link changed} was told of a change to `contextId` since it started: a caller
   * after a change gets a read of its own.
   */
  single<T>(contextId: string, key: string, read: () => Promise<T>): Promise<T> {
    let reads = this.#inFlight.get(contextId);
    const running = reads?.get(key);
    if (running !== undefined) return running as Promise<T>;
    const started = read();
    if (reads === undefined) {
      reads = new Map();
      this.#inFlight.set(contextId, reads);
    }
    const own = reads;
    // Registered before any caller's await, so the entry is gone before a caller sees the answer;
    // callers get `started` itself (no `finally` wrapper: one promise and tick less per sync).
    const clear = (): void => {
      if (own.get(key) === started) own.delete(key);
      if (own.size === 0 && this.#inFlight.get(contextId) === own) this.#inFlight.delete(contextId);
    };
    started.then(clear, clear);
    own.set(key, started);
    return started;
  }

  /**
   * `contextId` changed (written here, or announced by a change notice): syncs from now on do not
   * join the reads already in flight for it. `null`: anything may have changed (notices were lost).
   */
  changed(contextId: string | null): void {
    if (contextId === null) this.#inFlight = new Map();
    else this.#inFlight.delete(contextId);
  }

  /**
   * The merged delta of `contextId` in `epoch` from `from` to `to` as sent (wire), built by `merge`
   * on a miss. `merge` gives the stored form too (with old values), kept so that a later merge from
   * `from` can start from it rather than from the first delta.
   */
  merged(contextId: string, epoch: string | undefined, from: number, to: number, merge: () => Merge): Delta {
    if (epoch === undefined || this.#budget === 0) return merge().wire;
    const hit = this.cached(contextId, epoch, from, to);
    if (hit !== undefined) return hit;
    const key = mergedKey(contextId, epoch, from, to);
    const { stored, wire, storedBytes } = merge();
    // Twice the UTF-16 length of the stored form's JSON (the wire form is never larger): a cheap,
    // consistent measure of what the entry holds. A merge extending a cached one says its size
    // (the cached one's plus the new deltas', which a merge does not exceed), so only the new part is measured.
    const size = storedBytes ?? JSON.stringify(stored).length;
    const bytes = 2 * size + key.length;
    if (bytes > this.#budget) return wire;
    const source = `${contextId}\u0000${from}`;
    const entry: MergedEntry = { stored, wire, storedBytes: size, bytes, key, source, epoch, to };
    this.#merged.set(key, entry);
    this.#bytes += bytes;
    const newest = this.#newest.get(source);
    if (newest === undefined || newest.epoch !== epoch || newest.to < to) this.#newest.set(source, entry);
    for (const [oldKey, old] of this.#merged) {
      if (this.#bytes <= this.#budget) break;
      this.#merged.delete(oldKey);
      this.#bytes -= old.bytes;
      if (this.#newest.get(old.source) === old) this.#newest.delete(old.source);
    }
    return wire;
  }

  /** The cached merge (as sent) of `contextId` in `epoch` from `from` to `to`, if there is one (counts as a use). */
  cached(contextId: string, epoch: string, from: number, to: number): Delta | undefined {
    return this.#entry(contextId, epoch, from, to)?.wire;
  }

  /** The cached merge (stored form, with old values, and the length of its JSON) of `contextId` in `epoch` from `from` to `to`, if there is one. */
  cachedStored(contextId: string, epoch: string, from: number, to: number): { readonly stored: Delta; readonly storedBytes: number } | undefined {
    return this.#entry(contextId, epoch, from, to);
  }

  #entry(contextId: string, epoch: string, from: number, to: number): MergedEntry | undefined {
    const key = mergedKey(contextId, epoch, from, to);
    const hit = this.#merged.get(key);
    if (hit === undefined) return undefined;
    this.#merged.delete(key);
    this.#merged.set(key, hit);
    return hit;
  }

  /**
   * The newest merge cached for a client of `contextId` at `from` (in the client's `epoch`, when it
   * named one), as a `known` hint for the backend's sync read.
   */
  known(contextId: string, from: number, epoch: string | undefined): SyncKnown | undefined {
    if (this.#newest.size === 0) return undefined;
    const newest = this.#newest.get(`${contextId}\u0000${from}`);
    if (newest === undefined || (epoch !== undefined && epoch !== newest.epoch)) return undefined;
    return { version: newest.to, epoch: newest.epoch };
  }

  /** Bytes the merged-delta cache holds now. */
  get cachedBytes(): number {
    return this.#bytes;
  }
}

/** A merged delta in both forms: as stored (with old values, mergeable) and as sent. */
export interface Merge {
  readonly stored: Delta;
  readonly wire: Delta;
  /** The length of `stored`'s JSON, or an estimate at or above it, when the merger has one without measuring. */
  readonly storedBytes?: number;
}

interface MergedEntry {
  readonly stored: Delta;
  readonly wire: Delta;
  readonly storedBytes: number;
  readonly bytes: number;
  readonly key: string;
  /** `contextId` and `from`, the key of {@link SyncShare}'s newest-merge index. */
  readonly source: string;
  readonly epoch: string;
  readonly to: number;
}

function mergedKey(contextId: string, epoch: string, from: number, to: number): string {
  return `${contextId}\u0000${epoch}\u0000${from}\u0000${to}`;
}
