// The part of a client that does not care how updates arrive: one context's state, its listeners,
// and the rule for applying an update the server sent. ChordClient (one context, its own stream)
// and ChordConnection (many contexts, one stream) each hold one of these per context, so the
// state a context can take is decided in one place whatever carries its updates. The writes made
// through a client live here too, beside the state they are applied over: an OptimisticState
// (the pure core: confirmed + pending writes) and a WriteSender (their POSTs, one at a time).
import { applyChanges, applyDelta } from '../delta/index.js';
import type { ContextChanges } from '../engine/index.js';
import { ValidationError } from '../errors.js';
import type { Delta, JsonObject } from '../types.js';
import { validateJsonObject, validateOptions } from '../validation.js';
import { formatEventId } from '../wire/event-id.js';
import { ChordClientError } from './client-error.js';
import type { ResolvedStreamConfig } from './event-stream.js';
import { type LocalWrite, OptimisticState, type Settlement } from './optimistic-state.js';
import { WriteSender, type WriteSenderConfig } from './write-sender.js';

/** A state of the context: one the server had (`confirmed`), or that with the pending writes applied (`state`). */
export interface ChordClientState {
  readonly context: JsonObject;
  /** The server's version (for `state`: the confirmed version the pending writes are applied on; 0 for none). */
  readonly version: number;
  /** The epoch the version belongs to; `undefined` when the server's backend keeps none. */
  readonly epoch: string | undefined;
}

type Listener = (state: ChordClientState | null) => void;

/** Per-call options of a client's `update` and `set`. */
export interface ChordClientWriteOptions {
  /**
   * Write only if the server's version is still this one (in the epoch of `confirmed` when the
   * write is made); otherwise the promise rejects with 409 `conflict`. Default: whatever the version.
   */
  readonly expectedVersion?: number;
}

/** How a context's writes reach the server: the transport part of {@link WriteSenderConfig}. */
export type ContextWritesConfig = Pick<WriteSenderConfig, 'fetch' | 'url' | 'headers' | 'clientId' | 'initialBackoffMs' | 'maxBackoffMs' | 'timeoutMs'>;

/** A write not answered within this many ms is sent again (same write id), in ms. */
export const DEFAULT_WRITE_TIMEOUT_MS = 30_000;

/** A client's `writeTimeoutMs`, checked; the default when `undefined`. */
export function resolveWriteTimeoutMs(value: unknown): number {
  const timeoutMs = value ?? DEFAULT_WRITE_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new ValidationError('config.writeTimeoutMs', `must be a number > 0, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}

/** How the writes of each context reach the server: `POST {url}/{id}`, with one client id for all the contexts of a client. */
export function writesOf(config: ResolvedStreamConfig, clientId: string, timeoutMs: number): (contextId: string) => ContextWritesConfig {
  const { headers } = config;
  const base = config.url.replace(/\/+$/, '');
  return (contextId) => ({
    fetch: config.fetch,
    url: `${base}/${encodeURIComponent(contextId)}`,
    headers: async () => new Headers(typeof headers === 'function' ? await headers() : headers),
    clientId,
    initialBackoffMs: config.initialBackoffMs,
    maxBackoffMs: config.maxBackoffMs,
    timeoutMs,
  });
}

const WRITE_OPTION_KEYS: ReadonlySet<string> = new Set(['expectedVersion']);

function expectedVersionOf(options: unknown): number | undefined {
  if (options === undefined) return undefined;
  const { expectedVersion } = validateOptions(options, 'options', 'write', WRITE_OPTION_KEYS);
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && (expectedVersion as number) >= 0)) {
    throw new ValidationError('options.expectedVersion', `must be an integer >= 0, got ${String(expectedVersion)}`);
  }
  return expectedVersion as number | undefined;
}

/** A random id for a client's writes: `crypto.randomUUID` (browsers, Node 20), or 16 random bytes in hex where it is missing (insecure origins). */
export function randomClientId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  return Array.from(c.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameEpoch(a: string | undefined, b: unknown): boolean {
  return (a ?? '') === (typeof b === 'string' ? b : '');
}

/**
 * One context as a client holds it. `confirmed` is always a state the server had (a full context
 * as sent, or the state before a delta with that delta applied, where the delta starts at exactly
 * the version and epoch held), or `null`; `state` is `confirmed` with the writes not yet
 * confirmed applied in order (see optimistic-state.ts), and it is what listeners are told.
 */
export class ContextSync {
  readonly contextId: string;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<Listener>();
  readonly #optimistic = new OptimisticState();
  readonly #sender: WriteSender | undefined;
  /** The promise callbacks of each write not settled, by write id. */
  readonly #waiting = new Map<number, { resolve: (state: ChordClientState) => void; reject: (error: unknown) => void }>();
  #closed = false;
  #error: ChordClientError | undefined;

  /** Without `writes`, `update` and `set` reject: this holder only reads. */
  constructor(contextId: string, onError: (error: unknown) => void, writes?: ContextWritesConfig) {
    this.contextId = contextId;
    this.#onError = onError;
    if (writes !== undefined) {
      this.#sender = new WriteSender({
        ...writes,
        next: () => this.#optimistic.nextToSend(),
        answered: (writeId, answer) => this.#transition(() => this.#optimistic.answered(writeId, answer)),
        refused: (writeId, error) => this.#transition(() => this.#optimistic.refused(writeId, error)),
        onError,
      });
    }
  }

  /** What to show: `confirmed` with the pending writes applied; `null` while there is nothing to apply them on (a pending `set` shows even then). */
  get state(): ChordClientState | null {
    return this.#optimistic.state;
  }

  /** The last state the server sent, or `null`. */
  get confirmed(): ChordClientState | null {
    return this.#optimistic.confirmed;
  }

  /** How many writes are not yet confirmed. */
  get pending(): number {
    return this.#optimistic.pending;
  }

  /** Why the server stopped sending this context's updates, until it sends one again; `undefined` while all is well. */
  get error(): ChordClientError | undefined {
    return this.#error;
  }

  /** Sets {@link error}; listeners are called (with `state`) when it changes. */
  setError(error: ChordClientError | undefined): void {
    if (error === this.#error) return;
    this.#error = error;
    this.#tell(this.#optimistic.state);
  }

  /** `<epoch>:<version>` of the confirmed state (what a resuming request names), or `undefined` when nothing is held. */
  get position(): string | undefined {
    const held = this.#optimistic.confirmed;
    return held === null ? undefined : formatEventId(held.epoch, held.version);
  }

  /** Deep-merges `changes` (`unset` deletes a key): shown in `state` at once, sent, and resolved with the first confirmed state holding it. */
  update(changes: ContextChanges, options?: ChordClientWriteOptions): Promise<ChordClientState> {
    return this.#write(() => {
      applyChanges({}, changes); // ValidationError naming the bad path, before anything is held
      return { kind: 'update', changes };
    }, options);
  }

  /** Replaces the whole context; otherwise as {@link update}. */
  set(context: JsonObject, options?: ChordClientWriteOptions): Promise<ChordClientState> {
    return this.#write(() => {
      validateJsonObject(context, 'context');
      return { kind: 'set', context };
    }, options);
  }

  /** Stops sending; every write not settled rejects with ChordClientError, `state` falls back to `confirmed`, listeners are forgotten. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sender?.close();
    this.#transition(() => this.#optimistic.close());
    this.#listeners.clear();
  }

  #write(make: () => { kind: 'update'; changes: ContextChanges } | { kind: 'set'; context: JsonObject }, options: unknown): Promise<ChordClientState> {
    let write: LocalWrite;
    try {
      if (this.#closed) throw new ChordClientError(`the client of ${JSON.stringify(this.contextId)} is closed`);
      if (this.#sender === undefined) throw new ChordClientError(`the client of ${JSON.stringify(this.contextId)} does not write`);
      const expectedVersion = expectedVersionOf(options);
      const made = make();
      // An expected version belongs to a life of the id: the one confirmed is in.
      const epoch = expectedVersion === undefined ? undefined : this.#optimistic.confirmed?.epoch;
      write = { ...made, ...(expectedVersion === undefined ? {} : { expectedVersion }), ...(epoch === undefined ? {} : { epoch }) };
    } catch (error) {
      return Promise.reject(error);
    }
    const promise = new Promise<ChordClientState>((resolve, reject) => {
      this.#transition(() => {
        this.#waiting.set(this.#optimistic.add(write).writeId, { resolve, reject });
        return [];
      });
    });
    this.#sender.kick();
    return promise;
  }

  /** Runs one event of the optimistic state, settles the writes it settled, and tells the listeners of a new state. */
  #transition(event: () => Settlement[]): void {
    const before = this.#optimistic.state;
    for (const settlement of event()) {
      const waiting = this.#waiting.get(settlement.write.writeId);
      this.#waiting.delete(settlement.write.writeId);
      if (waiting === undefined) continue;
      const what = `write ${settlement.write.writeId} to ${JSON.stringify(this.contextId)}`;
      if (settlement.outcome === 'resolved') waiting.resolve(settlement.state);
      else if (settlement.outcome === 'refused') waiting.reject(settlement.reason);
      else if (settlement.outcome === 'superseded') waiting.reject(new ChordClientError(`${what}: the context was deleted or made anew before this client saw the write in it`));
      else waiting.reject(new ChordClientError(`${what}: the client was closed before the write was confirmed (the server may still apply it)`));
    }
    const state = this.#optimistic.state;
    if (state === before) return; // nothing new to tell
    this.#tell(state);
  }

  #tell(state: ChordClientState | null): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(state);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  subscribe(listener: Listener): () => void {
    if (typeof listener !== 'function') throw new ValidationError('listener', `must be a function, got ${String(listener)}`);
    // A wrapper, so that subscribing one function twice gives two independent subscriptions.
    const entry: Listener = (state) => listener(state);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  /** Forgets every listener (the client was closed). */
  clearListeners(): void {
    this.#listeners.clear();
  }

  #setState(state: ChordClientState | null): void {
    const recovered = this.#error !== undefined;
    this.#error = undefined; // an update came: the context is served again
    const before = this.#optimistic.state;
    this.#transition(() => this.#optimistic.received(state));
    // The same state again, but the error is gone: that is news too.
    if (recovered && this.#optimistic.state === before) this.#tell(before);
  }

  /**
   * Drops the state to `null` and tells `onError` why: what is held can no longer be trusted to
   * continue, so the caller resumes this context from nothing.
   */
  drop(reason: string, cause?: unknown): void {
    this.#onError(new ChordClientError(`dropping the state of ${JSON.stringify(this.contextId)}: ${reason}`, undefined, undefined, { cause }));
    // Not a deletion: the writes held wait for the full state the caller resumes with.
    this.#transition(() => {
      this.#optimistic.forget();
      return [];
    });
  }

  /**
   * Applies one update as the server sent it (the parsed `data` of a `full`, `delta` or `deleted`
   * event; `kind` is the event's name, which must agree). Returns false when it could not: the
   * state was dropped (see {@link drop}) and the caller must resume from nothing.
   */
  apply(kind: string, update: unknown): boolean {
    if (!isObject(update) || update.kind !== kind) {
      this.drop(`malformed ${kind} event`);
      return false;
    }
    if (update.kind === 'deleted') {
      this.#setState(null);
      return true;
    }
    if (update.kind === 'full') {
      const record = update.context;
      if (
        !isObject(record) ||
        record.contextId !== this.contextId ||
        !isObject(record.context) ||
        typeof record.version !== 'number' ||
        (record.epoch !== undefined && typeof record.epoch !== 'string')
      ) {
        this.drop('malformed full event');
        return false;
      }
      this.#setState({ context: record.context as JsonObject, version: record.version, epoch: record.epoch as string | undefined });
      return true;
    }
    if (update.kind !== 'delta') {
      this.drop(`unknown update kind ${JSON.stringify(update.kind)}`);
      return false;
    }
    const held = this.#optimistic.confirmed;
    const { fromVersion, version, epoch, delta } = update;
    if (held === null || held.version !== fromVersion || !sameEpoch(held.epoch, epoch) || typeof version !== 'number' || !isObject(delta)) {
      this.drop(`a delta from version ${String(fromVersion)} does not continue the state held (version ${held === null ? 'none' : held.version})`);
      return false;
    }
    let context: JsonObject;
    try {
      context = applyDelta(held.context, delta as Delta);
    } catch (cause) {
      this.drop(`the delta to version ${version} does not apply`, cause);
      return false;
    }
    this.#setState({ context, version, epoch: typeof epoch === 'string' ? epoch : held.epoch });
    return true;
  }
}
