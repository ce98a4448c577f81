// The client must run in a browser as it is: imports here are the pure delta functions, the error
// classes (a leaf module they use too) and types. No `node:` module, no engine, no backend.
import { ValidationError } from '../errors.js';
import { ChordClientError } from './client-error.js';
import { type ChordClientState, ContextSync } from './context-sync.js';
import { EventStreamLoop, STREAM_CONFIG_KEYS, type StreamConfig, resolveStreamConfig } from './event-stream.js';
import type { SseEvent } from './sse-parser.js';

export { ChordClientError };
export type { ChordClientState };
export { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS } from './event-stream.js';
export type { HeaderValues } from './event-stream.js';

/** Constructor input of {@link ChordClient}. */
export interface ChordClientConfig extends StreamConfig {
  readonly contextId: string;
}

const CONFIG_KEYS: ReadonlySet<string> = new Set(['url', 'contextId', ...STREAM_CONFIG_KEYS]);

/**
 * Keeps one context in sync with a chord-sync server through its SSE route
 * (`chord-sync/http`): it connects at once, applies each update (a full context, one delta, or
 * `deleted`), and on any break reconnects with jittered exponential backoff from the state it
 * holds (sending `Last-Event-ID: <epoch>:<version>`), so the server sends only what it missed.
 *
 * Its `state` is always one the server had: a full context as sent, or the state before a delta
 * with that delta applied, where the delta starts at exactly the version and epoch held. Anything
 * else (a delta from another version or epoch, an update it cannot read) drops the state to
 * `null` and reconnects from nothing. Once the server stops changing, the state ends equal to
 * the server's; `null` while nothing was received or after the context was deleted.
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
    this.#sync = new ContextSync(config.contextId, resolved.onError);
    const label = `sync stream of ${JSON.stringify(this.contextId)}`;
    const url = `${this.url.replace(/\/+$/, '')}/${encodeURIComponent(this.contextId)}`;
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

  /** The state held: `{ context, version, epoch }`, or `null` (nothing yet, or the context was deleted). */
  get state(): ChordClientState | null {
    return this.#sync.state;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#loop.closed;
  }

  /** Calls `listener` with every new state (not the current one: read `state` for that); returns the function that stops it. */
  subscribe(listener: (state: ChordClientState | null) => void): () => void {
    return this.#sync.subscribe(listener);
  }

  /** Closes the stream and stops reconnecting; `state` keeps its last value and listeners are no longer called. */
  close(): void {
    this.#loop.close();
    this.#sync.clearListeners();
  }

  #apply(event: SseEvent): void {
    if (event.event !== 'full' && event.event !== 'delta' && event.event !== 'deleted') return;
    let update: unknown;
    try {
      update = JSON.parse(event.data);
    } catch (cause) {
      this.#sync.drop(`unreadable ${event.event} event`, cause);
      this.#loop.restart('pause');
      return;
    }
    if (!this.#sync.apply(event.event, update)) this.#loop.restart('pause');
  }
}
