// The client must run in a browser as it is: imports here are the pure delta functions, the error
// classes (a leaf module they use too) and types. No `node:` module, no engine, no backend.
import type { ContextChanges } from '../engine/index.js';
import { ValidationError } from '../errors.js';
import type { JsonObject } from '../types.js';
import { ChordClientError } from './client-error.js';
import { type ChordClientState, type ChordClientWriteOptions, ContextSync, randomClientId, resolveWriteTimeoutMs, writesOf } from './context-sync.js';
import { EventStreamLoop, STREAM_CONFIG_KEYS, type StreamConfig, resolveStreamConfig } from './event-stream.js';
import type { SseEvent } from './sse-parser.js';
import { isWireUpdateKind } from '../wire/sync.js';

export { ChordClientError };
export type { ChordClientState, ChordClientWriteOptions };
export { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from './event-stream.js';
export type { HeaderValues } from './event-stream.js';

/** Constructor input of {@link ChordClient}. */
export interface ChordClientConfig extends StreamConfig {
  readonly contextId: string;
  /** A write not answered within this many ms is sent again, with the same write id. Default 30 000. */
  readonly writeTimeoutMs?: number;
}

export { DEFAULT_WRITE_TIMEOUT_MS } from './context-sync.js';

const CONFIG_KEYS: ReadonlySet<string> = new Set(['url', 'contextId', 'writeTimeoutMs', ...STREAM_CONFIG_KEYS]);

/**
 * Keeps one context in sync with a chord-sync server through its SSE route
 * (`chord-sync/http`): it connects at once, applies each update (a full context, one delta, or
 * `deleted`), and on any break reconnects with jittered exponential backoff from the state it
 * holds (sending `Last-Event-ID: <epoch>:<version>`), so the server sends only what it missed.
 *
 * Its `confirmed` state is always one the server had: a full context as sent, or the state
 * before a delta with that delta applied, where the delta starts at exactly the version and epoch
 * held. Anything else (a delta from another version or epoch, an update it cannot read) drops it
 * to `null` and reconnects from nothing. Once the server stops changing, it ends equal to the
 * server's; `null` while nothing was received or after the context was deleted.
 *
 * Writes ({@link update}, {@link set}) show in `state` at once and are POSTed to the same URL one
 * at a time, in order, each with this client's random `clientId` and a `writeId` (1, 2, 3…); a
 * write whose answer is lost is sent again with the same ids until answered, and the server
 * applies it at most once. On every state the server sends, `state` is `confirmed` with the
 * writes not yet confirmed re-applied in order.
 *
 * To follow many contexts over one stream, use `ChordConnection`.
 */
export class ChordClient {
  readonly url: string;
  readonly contextId: string;
  readonly #sync: ContextSync;
  readonly #loop: EventStreamLoop;

  constructor(config: ChordClientConfig) {
    const resolved = resolveStreamConfig(config, CONFIG_KEYS, 'ChordClient');
    if (typeof config.contextId !== 'string' || config.contextId === '') {
      throw new ValidationError('config.contextId', `must be a non-empty string, got ${String(config.contextId)}`);
    }
    this.url = resolved.url;
    this.contextId = config.contextId;
    const writeTimeoutMs = resolveWriteTimeoutMs(config.writeTimeoutMs);
    const label = `sync stream of ${JSON.stringify(this.contextId)}`;
    const writes = writesOf(resolved, randomClientId(), writeTimeoutMs)(config.contextId);
    const url = writes.url;
    this.#sync = new ContextSync(config.contextId, resolved.onError, writes);
    this.#loop = new EventStreamLoop(
      resolved,
      () => {
        const position = this.#sync.position;
        return { url, label, ...(position === undefined ? {} : { headers: { 'last-event-id': position } }) };
      },
      (event) => this.#apply(event),
    );
    this.#loop.start();
  }

  /**
   * What to show: {@link confirmed} with the writes not yet confirmed applied in order, or `null`
   * (nothing to apply them on yet, or the context was deleted; a pending `set` shows even then).
   */
  get state(): ChordClientState | null {
    return this.#sync.state;
  }

  /** The last state the server sent (always one the server had), or `null` (nothing yet, or the context was deleted). */
  get confirmed(): ChordClientState | null {
    return this.#sync.confirmed;
  }

  /** How many writes are not yet confirmed (sent, or waiting their turn). */
  get pending(): number {
    return this.#sync.pending;
  }

  /**
   * Deep-merges `changes` into the context as `chord.updateContext` does (`unset` as a value
   * deletes the key): shown in {@link state} at once, then sent. Resolves with the first
   * confirmed state that holds the write (its epoch is the answer's, its version at least the
   * answer's). Rejects with {@link ChordClientError} when the server refuses it (`status` and
   * `serverCode`: 403 `forbidden`, 409 `conflict`, 400 `invalid_argument`, 404, 405, 413; the
   * write then leaves `state` as if never made, and the writes after it stay), when the context
   * was deleted or made anew before the client saw the write in it, or on {@link close}; with
   * `ValidationError` for changes that are not a JSON object (`unset` allowed as a value).
   */
  update(changes: ContextChanges, options?: ChordClientWriteOptions): Promise<ChordClientState> {
    return this.#sync.update(changes, options);
  }

  /** Replaces the whole context with `context`; otherwise as {@link update}. */
  set(context: JsonObject, options?: ChordClientWriteOptions): Promise<ChordClientState> {
    return this.#sync.set(context, options);
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#loop.closed;
  }

  /** Calls `listener` with every new state (not the current one: read `state` for that); returns the function that stops it. */
  subscribe(listener: (state: ChordClientState | null) => void): () => void {
    return this.#sync.subscribe(listener);
  }

  /**
   * Closes the stream and stops reconnecting and sending; every write not yet confirmed rejects
   * with {@link ChordClientError} (one already sent may still be applied by the server), `state`
   * falls back to `confirmed`, and listeners are no longer called.
   */
  close(): void {
    this.#loop.close();
    this.#sync.close();
  }

  #apply(event: SseEvent): void {
    if (!isWireUpdateKind(event.event)) return;
    let update: unknown;
    try {
      update = JSON.parse(event.data);
    } catch (cause) {
      this.#sync.drop(`unreadable ${event.event} event`, cause);
      this.#loop.restart('failed');
      return;
    }
    if (!this.#sync.apply(event.event, update)) this.#loop.restart('failed');
  }
}
