/*
 * The optimistic state of one context: what the server last sent (`confirmed`) and the writes
 * this client made that the server has not yet shown back (`writes`, in the order they were
 * made). What to show (`state`) is always derived: `confirmed` with every write still held
 * applied in order. No I/O, no timers, no promises: the transport (ChordClient, or one context
 * of a ChordConnection) feeds it events and acts on the settlements each event returns.
 *
 * One write:
 *
 *   queued ──answered(version, epoch)──► answered ──received(confirmed holds it)──► resolved
 *     │                                    │
 *     │                                    └──received(a later life of the id)───► superseded
 *     ├──refused──────────────────────────────────────────────────────────────────► refused
 *     └──close (from queued or answered)──────────────────────────────────────────► closed
 *
 *   Resolved, superseded, refused and closed are final: the write leaves `writes` and the event
 *   returns its settlement. "Confirmed holds it": confirmed is in the answer's epoch at the
 *   answer's version or later.
 *
 * The whole (every event recomputes `state` = confirmed ∘ writes, in order):
 *
 *   event                  confirmed   writes
 *   add(write)             –           + write, queued, next write id
 *   answered(id, v, e)     –           id → answered(v, e); resolved at once if confirmed holds it
 *   refused(id)            –           − id (the writes after it stay)
 *   received(s | null)     s           − each answered write s holds, − each superseded one
 *   forget()               null        –   (the transport lost track; not a deletion)
 *   close()                –           − all (closed)
 *
 * Superseded (the id's life that took the write ended before this client saw it there): a
 * write answered in epoch E, while confirmed was in epoch P, is superseded by a received state
 * in an epoch other than E and P, or — once a state in E was received — by any state outside E
 * or a deletion. The write did take effect, but no later state can hold it.
 *
 * A write is re-applied on every rebase until it settles, also when the server already applied
 * it but its answer is still on the way: an update re-applied is then a no-op unless a later
 * write changed the same keys, which `state` shows late by that one round trip.
 */
import { applyChanges, unset } from '../delta/index.js';
import type { Json, JsonObject } from '../types.js';
import { isPlainObject } from '../validation.js';

/** A state the server had, or one built on it: `{ context, version, epoch }`. */
export interface OptimisticView {
  readonly context: JsonObject;
  /** The version the state builds on (the confirmed one; 0 for a `set` made before any state arrived). */
  readonly version: number;
  readonly epoch: string | undefined;
}

/** A write as the application made it; `changes` may hold `unset`. */
export type LocalWrite =
  | { readonly kind: 'update'; readonly changes: Readonly<Record<string, unknown>>; readonly expectedVersion?: number; readonly epoch?: string }
  | { readonly kind: 'set'; readonly context: JsonObject; readonly expectedVersion?: number; readonly epoch?: string };

/** The server's answer to a write: the version it produced (or found, for a write that changed nothing) and its epoch. */
export interface AppliedAt {
  readonly version: number;
  readonly epoch: string | undefined;
}

/** A write held by the machine. */
export interface PendingWrite {
  /** 1, 2, 3… in the order the writes were made. */
  readonly writeId: number;
  readonly write: LocalWrite;
  readonly phase: 'queued' | 'answered';
  readonly answer?: AppliedAt;
}

/** What an event settled: the write, and how it ended. */
export type Settlement =
  | { readonly outcome: 'resolved'; readonly write: PendingWrite; readonly state: OptimisticView }
  | { readonly outcome: 'refused'; readonly write: PendingWrite; readonly reason: unknown }
  | { readonly outcome: 'superseded'; readonly write: PendingWrite; readonly state: OptimisticView | null }
  | { readonly outcome: 'closed'; readonly write: PendingWrite };

interface Held {
  writeId: number;
  write: LocalWrite;
  phase: 'queued' | 'answered';
  answer?: AppliedAt;
  /** For an answered write: the epoch confirmed was in when the answer came (undefined: none held). */
  epochAtAnswer?: string | null;
  /** Whether a state in the answer's epoch was received since the answer. */
  seenEpoch?: boolean;
}

const epochKey = (epoch: string | undefined): string => epoch ?? '';

// The application may change its objects after handing them over; the machine keeps its own.
function copyChanges(changes: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(changes)) {
    const value = changes[key];
    Object.defineProperty(out, key, {
      value: value === unset ? unset : isPlainObject(value) ? copyChanges(value) : copyJson(value as Json),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function copyJson(value: Json): Json {
  return value === null || typeof value !== 'object' ? value : (JSON.parse(JSON.stringify(value)) as Json);
}

function applyWrite(base: OptimisticView | null, write: LocalWrite): OptimisticView | null {
  if (write.kind === 'set') return { context: write.context, version: base?.version ?? 0, epoch: base?.epoch };
  // An update has nothing to merge into until a state arrives; the server decides then.
  if (base === null) return null;
  return { context: applyChanges(base.context, write.changes), version: base.version, epoch: base.epoch };
}

/**
 * The optimistic state of one context (see the transition table at the top of this file). Each
 * event method returns the writes it settled, in the order they were made.
 */
export class OptimisticState {
  #confirmed: OptimisticView | null = null;
  #writes: Held[] = [];
  #state: OptimisticView | null = null;
  #nextWriteId = 1;

  /** The last state the server sent (`null`: none yet, deleted, or forgotten). */
  get confirmed(): OptimisticView | null {
    return this.#confirmed;
  }

  /** `confirmed` with every held write applied in order: what to show. */
  get state(): OptimisticView | null {
    return this.#state;
  }

  /** How many writes are held (queued or answered, not yet settled). */
  get pending(): number {
    return this.#writes.length;
  }

  /** The writes held, oldest first. */
  get writes(): readonly PendingWrite[] {
    return this.#writes.map(({ writeId, write, phase, answer }) => (answer === undefined ? { writeId, write, phase } : { writeId, write, phase, answer }));
  }

  /** The oldest write the server has not answered: the one to send next (writes go one at a time, in order). */
  nextToSend(): PendingWrite | undefined {
    const held = this.#writes.find((w) => w.phase === 'queued');
    return held === undefined ? undefined : { writeId: held.writeId, write: held.write, phase: held.phase };
  }

  /**
   * Holds a new write and applies it to `state`. The caller has validated it (`changes` a JSON
   * object that may hold `unset`; `context` a JSON object); the machine keeps its own copy.
   */
  add(write: LocalWrite): PendingWrite {
    const copy: LocalWrite =
      write.kind === 'update'
        ? { ...write, changes: copyChanges(write.changes) }
        : { ...write, context: copyJson(write.context) as JsonObject };
    const held: Held = { writeId: this.#nextWriteId++, write: copy, phase: 'queued' };
    this.#writes.push(held);
    this.#state = applyWrite(this.#state, copy);
    return { writeId: held.writeId, write: copy, phase: 'queued' };
  }

  /** The server applied write `writeId` (or had already: a duplicate) at `answer`. */
  answered(writeId: number, answer: AppliedAt): Settlement[] {
    const held = this.#writes.find((w) => w.writeId === writeId && w.phase === 'queued');
    if (held === undefined) return [];
    held.phase = 'answered';
    held.answer = { version: answer.version, epoch: answer.epoch };
    held.epochAtAnswer = this.#confirmed === null ? null : epochKey(this.#confirmed.epoch);
    held.seenEpoch = this.#confirmed !== null && epochKey(this.#confirmed.epoch) === epochKey(answer.epoch);
    return this.#settle(false);
  }

  /** The server refused write `writeId`; it leaves `state` as if never made. */
  refused(writeId: number, reason: unknown): Settlement[] {
    const index = this.#writes.findIndex((w) => w.writeId === writeId);
    if (index < 0) return [];
    const [held] = this.#writes.splice(index, 1);
    this.#rebase();
    return [{ outcome: 'refused', write: this.#public(held!), reason }];
  }

  /** A state the server sent (`null`: the context was deleted); the held writes are re-applied on it. */
  received(state: OptimisticView | null): Settlement[] {
    this.#confirmed = state;
    return this.#settle(true);
  }

  /** The transport no longer knows the server's state (it will get a full one): confirmed becomes null, nothing settles. */
  forget(): void {
    this.#confirmed = null;
    this.#rebase();
  }

  /** Ends every held write (`closed`); `state` falls back to `confirmed`. */
  close(): Settlement[] {
    const settled = this.#writes.map((held) => ({ outcome: 'closed' as const, write: this.#public(held) }));
    this.#writes = [];
    this.#rebase();
    return settled;
  }

  #public(held: Held): PendingWrite {
    return held.answer === undefined
      ? { writeId: held.writeId, write: held.write, phase: held.phase }
      : { writeId: held.writeId, write: held.write, phase: held.phase, answer: held.answer };
  }

  /** Settles what confirmed now decides; `fromServer`: confirmed was just received (may end a life). */
  #settle(fromServer: boolean): Settlement[] {
    const confirmed = this.#confirmed;
    const settled: Settlement[] = [];
    const kept: Held[] = [];
    for (const held of this.#writes) {
      if (held.phase !== 'answered' || held.answer === undefined) {
        kept.push(held);
        continue;
      }
      const epoch = epochKey(held.answer.epoch);
      if (confirmed !== null && epochKey(confirmed.epoch) === epoch) {
        held.seenEpoch = true;
        if (confirmed.version >= held.answer.version) {
          settled.push({ outcome: 'resolved', write: this.#public(held), state: confirmed });
          continue;
        }
      } else if (fromServer && this.#lifeEnded(held, confirmed)) {
        settled.push({ outcome: 'superseded', write: this.#public(held), state: confirmed });
        continue;
      }
      kept.push(held);
    }
    this.#writes = kept;
    this.#rebase();
    return settled;
  }

  #lifeEnded(held: Held, confirmed: OptimisticView | null): boolean {
    if (held.seenEpoch === true) return true; // left the answer's epoch, or deleted, after being in it
    if (confirmed === null) return false; // the deletion of the life before the write's: keep waiting
    return epochKey(confirmed.epoch) !== held.epochAtAnswer;
  }

  #rebase(): void {
    let state = this.#confirmed;
    for (const held of this.#writes) state = applyWrite(state, held.write);
    this.#state = state;
  }
}
