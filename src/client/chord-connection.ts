// Many contexts over one SSE stream. Like ChordClient, it runs in a browser as it is: imports are
// client/ modules, the wire messages and types.
import { ValidationError } from '../errors.js';
import { FOLLOW_PARAMETER, type FollowedContext, encodeFollowList, isRetryableCode } from '../wire/multiplex.js';
import { ChordClientError } from './client-error.js';
import type { ContextChanges } from '../engine/index.js';
import type { JsonObject } from '../types.js';
import { type ChordClientState, type ChordClientWriteOptions, type ContextWritesConfig, ContextSync, isObject, randomClientId, resolveWriteTimeoutMs, writesOf } from './context-sync.js';
import { EventStreamLoop, STREAM_CONFIG_KEYS, type StreamConfig, type StreamRequest, resolveStreamConfig } from './event-stream.js';
import type { SseEvent } from './sse-parser.js';

/** How long a connection waits after the set of followed contexts changed before it reopens its stream, in ms. */
export const DEFAULT_FOLLOW_DEBOUNCE_MS = 10;

/** Constructor input of {@link ChordConnection}: the stream options of `ChordClient`, without a context id. */
export interface ChordConnectionConfig extends StreamConfig {
  /**
   * After a context is followed or dropped, wait this long (ms) before reopening the stream with
   * the new set, so that many changes at once (a page mounting twenty views) cost one reconnect.
   * Default 10.
   */
  readonly followDebounceMs?: number;
  /** A write not answered within this many ms is sent again, with the same write id. Default 30 000 (as `ChordClient`). */
  readonly writeTimeoutMs?: number;
}

const CONFIG_KEYS: ReadonlySet<string> = new Set([...STREAM_CONFIG_KEYS, 'followDebounceMs', 'writeTimeoutMs']);

/** One followed context: its state, shared by every handle `context(id)` gave out for it. */
interface Followed {
  readonly sync: ContextSync;
  handles: number;
}

/**
 * One context of a {@link ChordConnection}: the `ChordClient` API over the connection's one stream.
 * Each `connection.context(id)` call gives its own handle; handles of one id share one state, and
 * the context is followed while any of them is open.
 */
export class ConnectionContext {
  readonly contextId: string;
  readonly #followed: Followed;
  readonly #release: () => void;
  readonly #unsubscribes = new Set<() => void>();
  #closed = false;

  /** @internal Made by {@link ChordConnection.context}. */
  constructor(followed: Followed, release: () => void) {
    this.contextId = followed.sync.contextId;
    this.#followed = followed;
    this.#release = release;
  }

  /** The state held: `{ context, version, epoch }`, or `null` (nothing yet, or the context was deleted). */
  get state(): ChordClientState | null {
    return this.#followed.sync.state;
  }

  /** The last state the server sent (always one the server had), or `null`. */
  get confirmed(): ChordClientState | null {
    return this.#followed.sync.confirmed;
  }

  /** How many writes are not yet confirmed (sent, or waiting their turn). */
  get pending(): number {
    return this.#followed.sync.pending;
  }

  /**
   * Deep-merges `changes` into the context, as `ChordClient.update`: shown in {@link state} at
   * once, POSTed to `{url}/{id}`, resolved with the first confirmed state that holds it. Writes
   * are the context's, not the handle's: closing this handle while another of the same id is
   * open leaves them going.
   */
  update(changes: ContextChanges, options?: ChordClientWriteOptions): Promise<ChordClientState> {
    if (this.#closed) return Promise.reject(new ChordClientError(`the handle of ${JSON.stringify(this.contextId)} is closed`));
    return this.#followed.sync.update(changes, options);
  }

  /** Replaces the whole context with `context`; otherwise as {@link update}. */
  set(context: JsonObject, options?: ChordClientWriteOptions): Promise<ChordClientState> {
    if (this.#closed) return Promise.reject(new ChordClientError(`the handle of ${JSON.stringify(this.contextId)} is closed`));
    return this.#followed.sync.set(context, options);
  }

  /**
   * Why the server does not send this context's updates (an `error` event: `serverCode`
   * `forbidden` when `authorize` refused it, `invalid_argument`, or a failure worth retrying, which
   * the connection does with backoff); `undefined` once an update arrives. `state` keeps its value.
   */
  get error(): ChordClientError | undefined {
    return this.#followed.sync.error;
  }

  /** Whether {@link close} was called on this handle (or the connection was closed). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Calls `listener` with every new state (not the current one: read `state` for that), and when
   * {@link error} changes; returns the function that stops it.
   */
  subscribe(listener: (state: ChordClientState | null) => void): () => void {
    if (this.#closed) throw new ValidationError('context', `the handle of ${JSON.stringify(this.contextId)} is closed`);
    const stop = this.#followed.sync.subscribe(listener);
    const unsubscribe = (): void => {
      stop();
      this.#unsubscribes.delete(unsubscribe);
    };
    this.#unsubscribes.add(unsubscribe);
    return unsubscribe;
  }

  /**
   * Stops this handle's listeners and lets go of the context: once no handle of it is open, the
   * connection stops following it (its stream is reopened without it; the others resume from the
   * states they hold). `state` keeps its last value.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of [...this.#unsubscribes]) unsubscribe();
    this.#release();
  }
}

/**
 * Follows many contexts over one SSE stream of a chord-sync server (`GET {url}?contexts=…`, see
 * docs/live-http.md): `connection.context(id)` gives a client with the `ChordClient` API, and
 * however many contexts are followed, at most one stream is open at a time.
 *
 * Each request names every followed context with the state held of it, so a reconnect (after a
 * break, with backoff, or shortly after the set of contexts changed) resumes each from exactly what
 * it holds: following or dropping one context neither loses nor repeats an update of another. The
 * server authorizes each context on its own; a refused one gets its `error` and the others go on.
 * A context followed twice is read once. Every context's state is always one the server had, as
 * with `ChordClient`.
 */
export class ChordConnection {
  readonly url: string;
  readonly #onError: (error: unknown) => void;
  readonly #debounceMs: number;
  readonly #writes: (contextId: string) => ContextWritesConfig;
  readonly #loop: EventStreamLoop;
  /** Followed contexts, in the order they were first followed. */
  readonly #followed = new Map<string, Followed>();
  /** What the open (or opening) stream follows: its events are for these alone. */
  #onStream = new Map<string, Followed>();
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(config: ChordConnectionConfig) {
    const resolved = resolveStreamConfig(config, CONFIG_KEYS, 'ChordConnection');
    const debounce = config.followDebounceMs ?? DEFAULT_FOLLOW_DEBOUNCE_MS;
    if (typeof debounce !== 'number' || !Number.isFinite(debounce) || debounce < 0) {
      throw new ValidationError('config.followDebounceMs', `must be a number ≥ 0, got ${String(debounce)}`);
    }
    this.url = resolved.url;
    this.#onError = resolved.onError;
    this.#debounceMs = debounce;
    this.#writes = writesOf(resolved, randomClientId(), resolveWriteTimeoutMs(config.writeTimeoutMs));
    this.#loop = new EventStreamLoop(resolved, () => this.#request(), (event) => this.#onEvent(event));
    this.#loop.start();
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The ids followed now (those with an open handle), in the order they were first followed. */
  get contextIds(): string[] {
    return [...this.#followed.keys()];
  }

  /**
   * A handle on `contextId`, followed from now until the handle (and every other handle of the
   * same id) is closed. A second call for the same id shares the first one's state and stream.
   *
   * @throws ValidationError when `contextId` is not a non-empty string, or the connection is closed.
   */
  context(contextId: string): ConnectionContext {
    if (typeof contextId !== 'string' || contextId === '') throw new ValidationError('contextId', `must be a non-empty string, got ${String(contextId)}`);
    if (this.#closed) throw new ValidationError('connection', 'is closed');
    let followed = this.#followed.get(contextId);
    if (followed === undefined) {
      followed = { sync: new ContextSync(contextId, this.#onError, this.#writes(contextId)), handles: 0 };
      this.#followed.set(contextId, followed);
      this.#changed();
    }
    followed.handles++;
    const held = followed;
    let released = false;
    return new ConnectionContext(held, () => {
      if (released) return;
      released = true;
      held.handles--;
      if (held.handles > 0 || this.#followed.get(contextId) !== held) return;
      this.#followed.delete(contextId);
      held.sync.close();
      this.#changed();
    });
  }

  /** Closes the stream and every context it holds; their states keep their last values. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#debounce);
    this.#loop.close();
    for (const followed of this.#followed.values()) followed.sync.close();
    this.#followed.clear();
    this.#onStream = new Map();
  }

  /** The set changed: reopen the stream with the new one, once the changes made together are all in. */
  #changed(): void {
    if (this.#debounce !== undefined || this.#closed) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      // The same set as on the stream (followed, then dropped again): nothing to reopen.
      if (this.#followed.size === this.#onStream.size && [...this.#followed].every(([id, f]) => this.#onStream.get(id) === f)) return;
      this.#loop.restart('now');
    }, this.#debounceMs);
  }

  /** What the next stream asks for: every followed context with the state held (read now, so nothing applied is asked again). */
  #request(): StreamRequest | undefined {
    this.#onStream = new Map(this.#followed);
    if (this.#followed.size === 0) return undefined;
    const list: FollowedContext[] = [];
    for (const [contextId, { sync }] of this.#followed) {
      const held = sync.state;
      list.push({ contextId, version: held?.version ?? null, epoch: held?.epoch });
    }
    const base = this.url.replace(/\/+$/, '');
    return {
      url: `${base}?${FOLLOW_PARAMETER}=${encodeURIComponent(encodeFollowList(list))}`,
      label: `multiplexed sync stream of ${list.length} context${list.length === 1 ? '' : 's'}`,
    };
  }

  #onEvent(event: SseEvent): void {
    const kind = event.event;
    if (kind !== 'full' && kind !== 'delta' && kind !== 'deleted' && kind !== 'error') return;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch (cause) {
      // Which context it was for cannot be known: every state is still one the server had, so
      // resume all from what they hold.
      this.#onError(new ChordClientError(`unreadable ${kind} event on the multiplexed stream`, undefined, undefined, { cause }));
      this.#loop.restart('pause');
      return;
    }
    const contextId = isObject(data) ? data.contextId : undefined;
    const followed = typeof contextId === 'string' ? this.#onStream.get(contextId) : undefined;
    // Not (or no longer) followed through this stream: a context dropped since it opened.
    if (followed === undefined || this.#followed.get(followed.sync.contextId) !== followed) return;
    if (kind === 'error') {
      const error = isObject(data) && isObject(data.error) ? data.error : {};
      const code = typeof error.code === 'string' ? error.code : 'internal';
      const message = typeof error.message === 'string' ? error.message : 'no reason given';
      const refusal = new ChordClientError(`context ${JSON.stringify(contextId)} is not served on the multiplexed stream (${code}): ${message}`, undefined, code);
      followed.sync.setError(refusal);
      this.#onError(refusal);
      // A refusal stays until something changes (the set, or the headers on a reconnect); a failure
      // clears up by itself, so the stream is reopened with the backoff of a failed connection.
      if (isRetryableCode(code)) this.#loop.restart('failed');
      return;
    }
    // A state dropped is asked for again from nothing; the others resume from what they hold.
    if (!followed.sync.apply(kind, data)) this.#loop.restart('pause');
  }
}
