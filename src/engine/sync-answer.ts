/**
 * The answer to a sync: what a client holding `clientVersion` of `epoch` needs (`full`, `delta` or
 * `no_change`), from one backend read, with the merged delta shared through {@link SyncShare}.
 *
 * The one loop to picture: before reading, the engine tells the backend which merge it has cached
 * for this client (`known`: the newest cached merge from `clientVersion`), so the backend reads only
 * what follows it. If that merge is evicted before the answer is built, the read is of no use, and
 * the sync reads again without the hint (REREAD); the second read never REREADs.
 *
 *   state       what happens                                               → next
 *   ---------   --------------------------------------------------------   ------------------------
 *   hint        known = SyncShare.known(context, clientVersion, epoch)      → read
 *   read        backend sync read (head, and the deltas after known or      → answer
 *               clientVersion, or the context when those can't serve)
 *               · a stored delta row that is not a delta                    → full read
 *   answer      · same life (epoch) and version                             → no_change, done
 *               · read.known, nothing new, the cached merge still there     → delta, done
 *               · deltas complete from the base (known or clientVersion)    → delta (merged, cached), done
 *               · read.known but the hint's merge or epoch no longer holds  → REREAD
 *               · not complete, the context was read                        → full, done
 *               · not complete, the context was not read                    → full read
 *   REREAD      read again with known = undefined                           → read (at most once)
 *   full read   getContext                                                  → full, done (NotFoundError if gone)
 *
 * A backend in this process's memory (`ImmediateSyncReader`) runs the same states without a
 * promise ({@link SyncAnswerer.answer} returns the answer itself); others share one read among
 * identical syncs in flight.
 */
import { SYNC_DELTA_BYTES_FLOOR, hasImmediateSyncReader, hasSyncReader } from '../backend.js';
import type { ChordBackend, ImmediateSyncReader, SyncKnown, SyncRead } from '../backend.js';
import { mergeStoredDeltas, trustedWireDelta } from '../delta/index.js';
import { CorruptDataError, NotFoundError, ValidationError } from '../errors.js';
import type { ContextRecord, Delta } from '../types.js';
import type { SyncResult } from './chord-types.js';
import type { SyncShare } from './sync-share.js';

/** What the answer is when the cached merge a backend read relied on has gone. */
const REREAD = Symbol('reread');

/** Answers `Chord.syncContext` for one engine: its backend, `deltaThreshold` and merged-delta cache. */
export class SyncAnswerer {
  readonly #backend: ChordBackend;
  readonly #deltaThreshold: number;
  readonly #syncShare: SyncShare;
  /** The backend, when it answers sync reads at once (in this process's memory). */
  readonly #immediate: ImmediateSyncReader | undefined;

  constructor(backend: ChordBackend, deltaThreshold: number, syncShare: SyncShare) {
    this.#backend = backend;
    this.#deltaThreshold = deltaThreshold;
    this.#syncShare = syncShare;
    this.#immediate = hasImmediateSyncReader(backend) ? backend : undefined;
  }

  /** The answer for checked arguments: the answer itself when the backend has it at once, else a promise of it. */
  answer(contextId: string, clientVersion: number | null, epoch: string | undefined): SyncResult | Promise<SyncResult> {
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
}

function withEpoch<T extends object>(answer: T, epoch: string | undefined): T & { epoch?: string } {
  return epoch === undefined ? answer : { ...answer, epoch };
}

/** Stored data that chord-sync did not write, at a delta (not the context row). */
function isCorruptDelta(error: unknown): boolean {
  return error instanceof CorruptDataError && error.what === 'delta';
}
