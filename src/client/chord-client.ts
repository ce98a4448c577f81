// The client must run in a browser as it is: imports here are the pure delta functions, the error
// classes (a leaf module they use too) and types. No `node:` module, no engine, no backend.
import { applyDelta } from '../delta/index.js';
import { ChordError, ValidationError } from '../errors.js';
import type { Delta, JsonObject } from '../types.js';
import { type SseEvent, SseParser } from './sse-parser.js';

/** First reconnect delay, in ms, before jitter; it doubles on each failed attempt. */
export const DEFAULT_INITIAL_BACKOFF_MS = 250;
/** Longest reconnect delay, in ms, before jitter. */
export const DEFAULT_MAX_BACKOFF_MS = 15_000;
/** A stream silent for this long (no event, no heartbeat) is taken as dead and reopened, in ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 45_000;

/** What `new Headers(…)` takes (the DOM's `HeadersInit`). */
export type HeaderValues = ConstructorParameters<typeof Headers>[0];

/** What a client holds: a state the server had. */
export interface ChordClientState {
  readonly context: JsonObject;
  readonly version: number;
  /** The epoch the version belongs to; `undefined` when the server's backend keeps none. */
  readonly epoch: string | undefined;
}

/** Constructor input of {@link ChordClient}. */
export interface ChordClientConfig {
  /** The sync route's base, e.g. `https://host/contexts` (relative URLs work where `fetch` takes them). */
  readonly url: string;
  readonly contextId: string;
  /** The `fetch` to use (e.g. one that adds auth headers). Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Extra request headers, or a function giving them for each (re)connect (e.g. a fresh token). */
  readonly headers?: HeaderValues | (() => HeaderValues | Promise<HeaderValues>);
  /** First reconnect delay in ms (jittered to between half and all of it, doubling per failure). Default 250. */
  readonly initialBackoffMs?: number;
  /** Longest reconnect delay in ms. Default 15 000. */
  readonly maxBackoffMs?: number;
  /** Reopen a stream that sent nothing, not even a heartbeat, for this long, in ms. Default 45 000 (three 15 s heartbeats). */
  readonly idleTimeoutMs?: number;
  /** Told of every failed connection, refused request and subscriber error. Default: nothing. */
  readonly onError?: (error: unknown) => void;
}

/**
 * What {@link ChordClientConfig.onError} is told: a connection that failed or broke, a request the
 * server refused (`status` and the body's `serverCode`), or a state dropped. The client retries.
 */
export class ChordClientError extends ChordError {
  readonly code = 'unavailable' as const;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The `error.code` of the server's answer (`forbidden`, `invalid_argument`…), when it gave one. */
  readonly serverCode: string | undefined;

  constructor(message: string, status?: number, serverCode?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.serverCode = serverCode;
  }
}

type Listener = (state: ChordClientState | null) => void;

const CONFIG_KEYS = new Set(['url', 'contextId', 'fetch', 'headers', 'initialBackoffMs', 'maxBackoffMs', 'idleTimeoutMs', 'onError']);

function positive(value: unknown, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(argument, `must be a number > 0, got ${String(value)}`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sameEpoch(a: string | undefined, b: unknown): boolean {
  return (a ?? '') === (typeof b === 'string' ? b : '');
}

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
 */
export class ChordClient {
  readonly url: string;
  readonly contextId: string;
  readonly #fetch: typeof fetch;
  readonly #headers: ChordClientConfig['headers'];
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #idleTimeoutMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #listeners = new Set<Listener>();
  #state: ChordClientState | null = null;
  #closed = false;
  #connection: AbortController | undefined;
  #wake: (() => void) | undefined;
  #restart = false;

  constructor(config: ChordClientConfig) {
    if (!isObject(config)) throw new ValidationError('config', `must be an object, got ${String(config)}`);
    for (const key of Object.keys(config)) {
      if (!CONFIG_KEYS.has(key)) throw new ValidationError(`config.${key}`, `is not a ChordClient option (known: ${[...CONFIG_KEYS].join(', ')})`);
    }
    if (typeof config.url !== 'string' || config.url === '') throw new ValidationError('config.url', `must be a non-empty string, got ${String(config.url)}`);
    if (typeof config.contextId !== 'string' || config.contextId === '') {
      throw new ValidationError('config.contextId', `must be a non-empty string, got ${String(config.contextId)}`);
    }
    const fetchFn = config.fetch ?? (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined);
    if (typeof fetchFn !== 'function') throw new ValidationError('config.fetch', 'must be a function: this runtime has no global fetch');
    if (config.onError !== undefined && typeof config.onError !== 'function') throw new ValidationError('config.onError', 'must be a function');
    this.url = config.url;
    this.contextId = config.contextId;
    this.#fetch = fetchFn;
    this.#headers = config.headers;
    this.#initialBackoffMs = positive(config.initialBackoffMs, DEFAULT_INITIAL_BACKOFF_MS, 'config.initialBackoffMs');
    this.#maxBackoffMs = positive(config.maxBackoffMs, DEFAULT_MAX_BACKOFF_MS, 'config.maxBackoffMs');
    this.#idleTimeoutMs = positive(config.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 'config.idleTimeoutMs');
    this.#onError = config.onError ?? (() => {});
    void this.#run();
  }

  /** The state held: `{ context, version, epoch }`, or `null` (nothing yet, or the context was deleted). */
  get state(): ChordClientState | null {
    return this.#state;
  }

  /** Whether {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Calls `listener` with every new state (not the current one: read `state` for that); returns the function that stops it. */
  subscribe(listener: (state: ChordClientState | null) => void): () => void {
    if (typeof listener !== 'function') throw new ValidationError('listener', `must be a function, got ${String(listener)}`);
    // A wrapper, so that subscribing one function twice gives two independent subscriptions.
    const entry: Listener = (state) => listener(state);
    this.#listeners.add(entry);
    return () => void this.#listeners.delete(entry);
  }

  /** Closes the stream and stops reconnecting; `state` keeps its last value and listeners are no longer called. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection?.abort();
    this.#wake?.();
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

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      const healthy = await this.#connectOnce();
      if (this.#closed) break;
      attempt = healthy ? 0 : attempt + 1;
      const ceiling = Math.min(this.#maxBackoffMs, this.#initialBackoffMs * 2 ** Math.min(attempt, 30));
      // Half fixed, half random: spread out, so a restarted server is not hit by every client at once.
      await this.#sleep(ceiling / 2 + Math.random() * (ceiling / 2));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  #streamUrl(): string {
    return `${this.url.replace(/\/+$/, '')}/${encodeURIComponent(this.contextId)}`;
  }

  /** One connection, until it ends or breaks; true when the server accepted it. */
  async #connectOnce(): Promise<boolean> {
    const connection = new AbortController();
    this.#connection = connection;
    this.#restart = false;
    let lastActivity = Date.now();
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    // One timer per connection, re-armed only when it fires: cheaper than one per chunk.
    const watchIdle = (): void => {
      const silentFor = Date.now() - lastActivity;
      if (silentFor >= this.#idleTimeoutMs) connection.abort();
      else idleTimer = setTimeout(watchIdle, this.#idleTimeoutMs - silentFor);
    };
    idleTimer = setTimeout(watchIdle, this.#idleTimeoutMs);
    let accepted = false;
    try {
      const extra = typeof this.#headers === 'function' ? await this.#headers() : this.#headers;
      const headers = new Headers(extra);
      headers.set('accept', 'text/event-stream');
      const from = this.#state;
      if (from !== null) headers.set('last-event-id', `${from.epoch ?? ''}:${from.version}`);
      if (this.#closed) return false;
      const response = await this.#fetch(this.#streamUrl(), { headers, signal: connection.signal });
      if (!response.ok || response.body === null) {
        let body: { error?: { code?: string; message?: string } } = {};
        try {
          body = (await response.json()) as typeof body;
        } catch {
          // Not our JSON (a proxy's page): the status says enough.
        }
        const detail = body.error?.message === undefined ? '' : `: ${body.error.message}`;
        this.#onError(new ChordClientError(`sync stream of ${JSON.stringify(this.contextId)} refused with ${response.status}${detail}`, response.status, body.error?.code));
        return false;
      }
      accepted = true;
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser((event) => this.#apply(event));
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        lastActivity = Date.now();
        parser.push(decoder.decode(value, { stream: true }));
        if (this.#restart || this.#closed) {
          connection.abort();
          break;
        }
      }
      return true;
    } catch (error) {
      if (!this.#closed && !this.#restart) {
        const reason = connection.signal.aborted ? `silent for ${this.#idleTimeoutMs} ms` : error instanceof Error ? error.message : String(error);
        this.#onError(new ChordClientError(`sync stream of ${JSON.stringify(this.contextId)} broke: ${reason}`, undefined, undefined, { cause: error }));
      }
      return accepted;
    } finally {
      clearTimeout(idleTimer);
      connection.abort();
    }
  }

  /** Drops the state and reconnects from nothing: what is held can no longer be trusted to continue. */
  #dropState(reason: string, cause?: unknown): void {
    this.#onError(new ChordClientError(`dropping the state of ${JSON.stringify(this.contextId)}: ${reason}`, undefined, undefined, { cause }));
    this.#restart = true;
    this.#setState(null);
  }

  #apply(event: SseEvent): void {
    if (this.#restart || this.#closed) return;
    if (event.event !== 'full' && event.event !== 'delta' && event.event !== 'deleted') return;
    let update: unknown;
    try {
      update = JSON.parse(event.data);
    } catch (cause) {
      this.#dropState(`unreadable ${event.event} event`, cause);
      return;
    }
    if (!isObject(update) || update.kind !== event.event) {
      this.#dropState(`malformed ${event.event} event`);
      return;
    }
    if (update.kind === 'deleted') {
      this.#setState(null);
      return;
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
        this.#dropState('malformed full event');
        return;
      }
      this.#setState({ context: record.context as JsonObject, version: record.version, epoch: record.epoch as string | undefined });
      return;
    }
    const held = this.#state;
    const { fromVersion, version, epoch, delta } = update;
    if (held === null || held.version !== fromVersion || !sameEpoch(held.epoch, epoch) || typeof version !== 'number' || !isObject(delta)) {
      this.#dropState(`a delta from version ${String(fromVersion)} does not continue the state held (version ${held === null ? 'none' : held.version})`);
      return;
    }
    let context: JsonObject;
    try {
      context = applyDelta(held.context, delta as Delta);
    } catch (cause) {
      this.#dropState(`the delta to version ${version} does not apply`, cause);
      return;
    }
    this.#setState({ context, version, epoch: typeof epoch === 'string' ? epoch : held.epoch });
  }
}
