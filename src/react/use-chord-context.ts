// A thin useSyncExternalStore adapter over a ChordConnection: no state of its own beyond the
// handle it holds while mounted and the last snapshot (kept so that React sees the same object
// until something changed). Imports only the client (types) and react.
import { useMemo, useSyncExternalStore } from 'react';
import type { ChordClient, ChordClientError, ChordClientState } from '../client/index.js';

/**
 * What the hook uses of one context of a connection, as `ChordConnection.context(id)` gives it
 * (the `ChordClient` API and the context's `error`).
 */
export interface ChordContextHandle {
  readonly state: ChordClientState | null;
  readonly confirmed: ChordClientState | null;
  readonly pending: number;
  readonly error?: ChordClientError | undefined;
  subscribe(listener: (state: ChordClientState | null) => void): () => void;
  update: ChordClient['update'];
  set: ChordClient['set'];
  close(): void;
}

/** What the hook uses of a connection: a `ChordConnection` is one. */
export interface ChordContextSource {
  context(contextId: string): ChordContextHandle;
}

/** What {@link useChordContext} returns. */
export interface ChordContextView {
  /** What to show: the confirmed state with the pending writes applied; `null` until the first state (or after a delete). */
  readonly state: ChordClientState | null;
  /** The last state the server sent. */
  readonly confirmed: ChordClientState | null;
  /** Writes made through this context that the server has not confirmed yet. */
  readonly pending: number;
  /** Why the server does not serve this context (refused by `authorize`, unknown…); `undefined` while all is well. */
  readonly error: ChordClientError | undefined;
  /** `update` of the context (a deep merge; `unset` deletes a key): shown at once, resolves once confirmed. Stable across renders. */
  readonly update: ChordContextHandle['update'];
  /** `set` of the context (a whole new context), as `update`. Stable across renders. */
  readonly set: ChordContextHandle['set'];
}

type Snapshot = Pick<ChordContextView, 'state' | 'confirmed' | 'pending' | 'error'>;

const NOTHING_YET: Snapshot = Object.freeze({ state: null, confirmed: null, pending: 0, error: undefined });

/** The store useSyncExternalStore reads: one per mounted (connection, contextId). */
class ContextStore {
  readonly #connection: ChordContextSource;
  readonly #contextId: string;
  #handle: ChordContextHandle | undefined;
  #snapshot: Snapshot = NOTHING_YET;

  constructor(connection: ChordContextSource, contextId: string) {
    this.#connection = connection;
    this.#contextId = contextId;
  }

  // The context is followed from subscribe to unsubscribe, so a render that never commits (or is
  // thrown away) follows nothing, and an unmount lets go of it. The connection counts handles of
  // one id: two components on one context share one state and one entry on the stream.
  readonly subscribe = (onChange: () => void): (() => void) => {
    const handle = this.#connection.context(this.#contextId);
    this.#handle = handle;
    const stop = handle.subscribe(onChange);
    return () => {
      stop();
      handle.close();
      if (this.#handle === handle) this.#handle = undefined;
    };
  };

  readonly getSnapshot = (): Snapshot => {
    const handle = this.#handle;
    if (handle === undefined) return this.#snapshot;
    const last = this.#snapshot;
    // The client's states are immutable objects, new on every change: comparing them by identity
    // is comparing them. The same object back means nothing changed, so React skips the render.
    if (last.state === handle.state && last.confirmed === handle.confirmed && last.pending === handle.pending && last.error === handle.error) return last;
    this.#snapshot = { state: handle.state, confirmed: handle.confirmed, pending: handle.pending, error: handle.error };
    return this.#snapshot;
  };

  readonly getServerSnapshot = (): Snapshot => NOTHING_YET;

  readonly update: ChordContextHandle['update'] = (...args) => this.#write((handle) => handle.update(...args));

  readonly set: ChordContextHandle['set'] = (...args) => this.#write((handle) => handle.set(...args));

  #write(send: (handle: ChordContextHandle) => Promise<ChordClientState>): Promise<ChordClientState> {
    if (this.#handle !== undefined) return send(this.#handle);
    // Called before mount or after unmount (an event handler that outlived its component): the
    // write goes through a handle of its own, held until the server answered.
    const handle = this.#connection.context(this.#contextId);
    const written = send(handle);
    void written.then(() => handle.close(), () => handle.close());
    return written;
  }
}

/**
 * Follows `contextId` through `connection` while the component is mounted, and renders on each
 * change: built on `useSyncExternalStore`, so every component reading one context in a render
 * sees the same state (no tearing). One subscription per mounted component; the context is let
 * go on unmount (the connection stops following it once no component or handle holds it).
 *
 * ```ts
 * const { state, confirmed, update, set, error } = useChordContext(connection, 'room:1')
 * ```
 *
 * `state` is `null` until the first state arrives. A new `connection` or `contextId` follows the
 * new one and lets go of the old.
 */
export function useChordContext(connection: ChordContextSource, contextId: string): ChordContextView {
  const store = useMemo(() => new ContextStore(connection, contextId), [connection, contextId]);
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getServerSnapshot);
  return { ...snapshot, update: store.update, set: store.set };
}
