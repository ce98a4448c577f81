// How a client keeps one SSE stream open: connect, read with an idle timer, and on any break
// reconnect with jittered exponential backoff. ChordClient and ChordConnection share it; what to
// ask for on each (re)connect and what to do with each event is theirs.
import { ValidationError } from '../errors.js';
import { validateOptions } from '../validation.js';
import { ChordClientError } from './client-error.js';
import { type SseEvent, SseParser } from './sse-parser.js';

/** First reconnect delay, in ms, before jitter; it doubles on each failed attempt. */
export const DEFAULT_INITIAL_BACKOFF_MS = 250;
/** Longest reconnect delay, in ms, before jitter. */
export const DEFAULT_MAX_BACKOFF_MS = 15_000;
/** A stream silent for this long (no event, no heartbeat) is taken as dead and reopened, in ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 45_000;

/** What `new Headers(…)` takes (the DOM's `HeadersInit`). */
export type HeaderValues = ConstructorParameters<typeof Headers>[0];

/** The options every client takes for its stream (ChordClient's and ChordConnection's config). */
export interface StreamConfig {
  /** The sync route's base, e.g. `https://host/contexts` (relative URLs work where `fetch` takes them). */
  readonly url: string;
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

/** {@link StreamConfig} checked, with every default filled in. */
export interface ResolvedStreamConfig {
  readonly url: string;
  readonly fetch: typeof fetch;
  readonly headers: StreamConfig['headers'];
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly idleTimeoutMs: number;
  readonly onError: (error: unknown) => void;
}

export const STREAM_CONFIG_KEYS = ['url', 'fetch', 'headers', 'initialBackoffMs', 'maxBackoffMs', 'idleTimeoutMs', 'onError'] as const;

function positive(value: unknown, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(argument, `must be a number > 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Checks a client's config: an object with only `known` keys, and valid stream options.
 *
 * @throws ValidationError naming the first option that is not acceptable.
 */
export function resolveStreamConfig(config: unknown, known: ReadonlySet<string>, className: string): ResolvedStreamConfig {
  validateOptions(config, 'config', className, known);
  const c = config as StreamConfig;
  if (typeof c.url !== 'string' || c.url === '') throw new ValidationError('config.url', `must be a non-empty string, got ${String(c.url)}`);
  const fetchFn = c.fetch ?? (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined);
  if (typeof fetchFn !== 'function') throw new ValidationError('config.fetch', 'must be a function: this runtime has no global fetch');
  if (c.onError !== undefined && typeof c.onError !== 'function') throw new ValidationError('config.onError', 'must be a function');
  return {
    url: c.url,
    fetch: fetchFn,
    headers: c.headers,
    initialBackoffMs: positive(c.initialBackoffMs, DEFAULT_INITIAL_BACKOFF_MS, 'config.initialBackoffMs'),
    maxBackoffMs: positive(c.maxBackoffMs, DEFAULT_MAX_BACKOFF_MS, 'config.maxBackoffMs'),
    idleTimeoutMs: positive(c.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 'config.idleTimeoutMs'),
    onError: c.onError ?? (() => {}),
  };
}

/** What to open next. */
export interface StreamRequest {
  readonly url: string;
  /** Headers on top of the configured ones (`accept` is set by the loop). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Names the stream in error messages, e.g. `sync stream of "room:1"`. */
  readonly label: string;
}

/** How a stream ended by {@link EventStreamLoop.restart} is followed. */
export type RestartMode =
  /** Reconnect after the usual short pause, as after a stream that ended well. */
  | 'pause'
  /** Reconnect at once: the owner changed what it asks for. */
  | 'now'
  /** Reconnect after a backoff that grows, as after a failed connection. */
  | 'failed';

/**
 * One stream at a time, reopened until {@link close}: `request()` says what to open (`undefined`:
 * nothing, wait until {@link restart}), and every event of the open stream goes to `onEvent`,
 * none after a restart or close was asked for.
 */
export class EventStreamLoop {
  readonly #config: ResolvedStreamConfig;
  readonly #request: () => StreamRequest | undefined;
  readonly #onEvent: (event: SseEvent) => void;
  #closed = false;
  #connection: AbortController | undefined;
  #wake: (() => void) | undefined;
  #restart: RestartMode | undefined;
  #started = false;
  /** The server's `retry-after` on the last refusal, in ms: the next pause is at least this (within maxBackoffMs). */
  #retryAfterMs = 0;

  constructor(config: ResolvedStreamConfig, request: () => StreamRequest | undefined, onEvent: (event: SseEvent) => void) {
    this.#config = config;
    this.#request = request;
    this.#onEvent = onEvent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Opens the first stream (once). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#run();
  }

  /**
   * Ends the open stream (its later events are not delivered) and opens the next one as `mode`
   * says; a loop waiting with nothing to open asks `request()` again.
   */
  restart(mode: RestartMode): void {
    if (this.#closed) return;
    // The strongest ask wins: a failure keeps its backoff, `now` beats a pause.
    if (this.#restart !== 'failed' && (this.#restart === undefined || mode !== 'pause')) this.#restart = mode;
    this.#connection?.abort();
    if (mode === 'now') this.#wake?.();
  }

  /** Closes the stream and stops reconnecting. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection?.abort();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      const request = this.#request();
      if (request === undefined) {
        await this.#sleep(undefined);
        this.#restart = undefined;
        continue;
      }
      let healthy = await this.#connectOnce(request);
      if (this.#closed) break;
      const restart = this.#restart;
      this.#restart = undefined;
      if (restart === 'now') continue;
      if (restart === 'failed') healthy = false;
      attempt = healthy ? 0 : attempt + 1;
      const ceiling = Math.min(this.#config.maxBackoffMs, this.#config.initialBackoffMs * 2 ** Math.min(attempt, 30));
      // Half fixed, half random: spread out, so a restarted server is not hit by every client at once.
      let pause = ceiling / 2 + Math.random() * (ceiling / 2);
      const retryAfter = Math.min(this.#retryAfterMs, this.#config.maxBackoffMs);
      this.#retryAfterMs = 0;
      // A server that said when to come back is not asked sooner; jittered upwards, still spread out.
      if (pause < retryAfter) pause = Math.min(this.#config.maxBackoffMs, retryAfter * (1 + Math.random() * 0.25));
      await this.#sleep(pause);
      // Asked for while no stream was open: the next one is what it asked for.
      this.#restart = undefined;
    }
  }

  /** Resolves after `ms` (never, when `undefined`) or when woken by a `restart('now')` or `close()`. */
  #sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /**
   * One connection, until it ends or breaks; true when it delivered an event. A stream that opened
   * and closed without one (a server that cannot start it, a proxy cutting it) is a failure like a
   * refused one, so the next attempt backs off instead of hammering the server.
   */
  async #connectOnce(request: StreamRequest): Promise<boolean> {
    const config = this.#config;
    const connection = new AbortController();
    this.#connection = connection;
    let lastActivity = Date.now();
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    // One timer per connection, re-armed only when it fires: cheaper than one per chunk.
    const watchIdle = (): void => {
      const silentFor = Date.now() - lastActivity;
      if (silentFor >= config.idleTimeoutMs) connection.abort();
      else idleTimer = setTimeout(watchIdle, config.idleTimeoutMs - silentFor);
    };
    idleTimer = setTimeout(watchIdle, config.idleTimeoutMs);
    let delivered = false;
    const ended = (): boolean => this.#closed || this.#restart !== undefined;
    try {
      const extra = typeof config.headers === 'function' ? await config.headers() : config.headers;
      const headers = new Headers(extra);
      headers.set('accept', 'text/event-stream');
      for (const [name, value] of Object.entries(request.headers ?? {})) headers.set(name, value);
      if (ended()) return false;
      const response = await config.fetch(request.url, { headers, signal: connection.signal });
      if (!response.ok || response.body === null) {
        let body: { error?: { code?: string; message?: string } } = {};
        try {
          body = (await response.json()) as typeof body;
        } catch {
          // Not our JSON (a proxy's page): the status says enough.
        }
        const detail = body.error?.message === undefined ? '' : `: ${body.error.message}`;
        this.#retryAfterMs = retryAfterMs(response.headers.get('retry-after'));
        config.onError(new ChordClientError(`${request.label} refused with ${response.status}${detail}`, response.status, body.error?.code));
        return false;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser((event) => {
        if (ended()) return;
        delivered = true;
        this.#onEvent(event);
      });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          if (!ended()) config.onError(new ChordClientError(`${request.label} was ended by the server${delivered ? '' : ' before any event'}`, response.status));
          break;
        }
        lastActivity = Date.now();
        parser.push(decoder.decode(value, { stream: true }));
        if (ended()) break;
      }
      return delivered;
    } catch (error) {
      if (!ended()) {
        const reason = connection.signal.aborted ? `silent for ${config.idleTimeoutMs} ms` : error instanceof Error ? error.message : String(error);
        config.onError(new ChordClientError(`${request.label} broke: ${reason}`, undefined, undefined, { cause: error }));
      }
      return delivered;
    } finally {
      clearTimeout(idleTimer);
      connection.abort();
      if (this.#connection === connection) this.#connection = undefined;
    }
  }
}

/** Longest `retry-after` taken from a server, in ms (a pause is also never longer than maxBackoffMs). */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** A `retry-after` header (seconds, or an HTTP date) in ms from now; 0 when absent or unreadable. */
function retryAfterMs(header: string | null): number {
  if (header === null) return 0;
  const text = header.trim();
  const ms = /^[0-9]+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - Date.now();
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : 0;
}
