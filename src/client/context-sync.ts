// The part of a client that does not care how updates arrive: one context's state, its listeners,
// and the rule for applying an update the server sent. ChordClient (one context, its own stream)
// and ChordConnection (many contexts, one stream) each hold one of these per context, so the
// state a context can take is decided in one place whatever carries its updates. Writes made
// through a client belong here too, beside the state they are applied over.
import { applyDelta } from '../delta/index.js';
import { ValidationError } from '../errors.js';
import type { Delta, JsonObject } from '../types.js';
import { ChordClientError } from './client-error.js';

/** What a client holds: a state the server had. */
export interface ChordClientState {
  readonly context: JsonObject;
  readonly version: number;
  /** The epoch the version belongs to; `undefined` when the server's backend keeps none. */
  readonly epoch: string | undefined;
}

type Listener = (state: ChordClientState | null) => void;

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameEpoch(a: string | undefined, b: unknown): boolean {
  return (a ?? '') === (typeof b === 'string' ? b : '');
}

/**
 * One context as a client holds it: always a state the server had (a full context as sent, or the
 * state before a delta with that delta applied, where the delta starts at exactly the version and
 * epoch held), or `null`.
 */
export class ContextSync {
  readonly contextId: string;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<Listener>();
  #state: ChordClientState | null = null;

  constructor(contextId: string, onError: (error: unknown) => void) {
    this.contextId = contextId;
    this.#onError = onError;
  }

  get state(): ChordClientState | null {
    return this.#state;
  }

  /** `<epoch>:<version>` of the state held (what a resuming request names), or `undefined` when nothing is held. */
  get position(): string | undefined {
    const held = this.#state;
    return held === null ? undefined : `${held.epoch ?? ''}:${held.version}`;
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
    if (state === null && this.#state === null) return; // nothing new to tell
    this.#state = state;
    for (const listener of [...this.#listeners]) {
      try {
        listener(state);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  /**
   * Drops the state to `null` and tells `onError` why: what is held can no longer be trusted to
   * continue, so the caller resumes this context from nothing.
   */
  drop(reason: string, cause?: unknown): void {
    this.#onError(new ChordClientError(`dropping the state of ${JSON.stringify(this.contextId)}: ${reason}`, undefined, undefined, { cause }));
    this.#setState(null);
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
    const held = this.#state;
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
