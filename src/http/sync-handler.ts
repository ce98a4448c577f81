import { ChordError, type ChordErrorCode, ValidationError } from '../errors.js';
import { describe, validateOptions } from '../validation.js';
import { remoteAddress } from './remote-address.js';
import type { LiveUpdate, LiveWatch, WatchStart } from '../live/index.js';
import { type ChordBackend, hasWriteIdRecorder } from '../backend.js';
import type { SyncSource } from './sync-source.js';
import { type SyncRequest, parseSyncRequest } from './request.js';
import { encodeComment, encodeUpdate, eventStreamResponse, openEventStream } from './sse.js';
import { DEFAULT_MAX_CONTEXTS_PER_STREAM, multiplexResponse, parseMultiplexRequest } from './multiplex-stream.js';
import { toWireSyncAnswer } from './wire-encode.js';
import { type ClientWrite, DEFAULT_MAX_WRITE_BYTES, type WriteTarget, WriteTooLargeError, applyClientWrite, parseWriteBody, readBoundedBody } from './write-route.js';

/** Where the sync route lives unless `basePath` says otherwise. */
export const DEFAULT_BASE_PATH = '/contexts';
/** Interval of the SSE comment lines that keep an idle stream open, in ms. */
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** Open SSE streams one handler serves at most; the next one is answered 503. */
export const DEFAULT_MAX_STREAMS = 10_000;
/** Open SSE streams of one client (by `clientKey`) at most; the next one is answered 429. A tenth of {@link DEFAULT_MAX_STREAMS}. */
export const DEFAULT_MAX_STREAMS_PER_CLIENT = 1_000;
/** Open single-context SSE streams of one context id at most; the next one is answered 503. Half of {@link DEFAULT_MAX_STREAMS}. */
export const DEFAULT_MAX_STREAMS_PER_CONTEXT = 5_000;
/** How long a stream on an id that does not exist waits for it before it ends, in ms. */
export const DEFAULT_MISSING_CONTEXT_WAIT_MS = 10_000;
/** The `retry-after` (seconds) of a 503: too many streams, or a stream that could not start (backend unreachable). */
export const RETRY_AFTER_SECONDS = 5;

/** A Web-standard request handler (Hono, Next.js route handlers, Bun, Deno, or node:http through {@link toNodeHandler}). */
export type SyncHandler = (request: Request) => Promise<Response>;

/** Options of {@link createSyncHandler}. */
export interface SyncHandlerOptions {
  /** Path prefix of the route: `{basePath}/{encodeURIComponent(contextId)}`. Default `'/contexts'`; `''` for ids at the root. */
  readonly basePath?: string;
  /**
   * Whether `request` may read `contextId`; `false` answers 403. Called only for well-formed
   * requests, before anything is read. Default: every request is allowed.
   */
  readonly authorize?: (request: Request, contextId: string) => boolean | Promise<boolean>;
  /**
   * Whether `request` may make `write` (exactly what will be written: the kind, the changes with
   * `unset` as the sentinel or the context, `expectedVersion`, `epoch`) to `contextId`; `false`
   * answers 403. Called once the body is read and checked, before anything is written. Without
   * it, writes (`POST`) are refused with 405 and nothing is written.
   */
  readonly authorizeWrite?: (request: Request, contextId: string, write: ClientWrite) => boolean | Promise<boolean>;
  /** The largest write body read, in bytes; a larger one is answered 413. Default {@link DEFAULT_MAX_WRITE_BYTES} (1 MiB). */
  readonly maxWriteBytes?: number;
  /** Interval of the comment lines sent on an idle SSE stream, in ms. Default 15 000. */
  readonly heartbeatMs?: number;
  /** Open SSE streams this handler serves at once (a multiplexed stream counts one); past it a stream request is answered 503. Default 10 000. */
  readonly maxStreams?: number;
  /**
   * Contexts one multiplexed stream (`GET {basePath}?contexts=…`) follows at most; each one past
   * it gets an `error` event (`invalid_argument`) and the others are served. Default 100.
   */
  readonly maxContextsPerStream?: number;
  /**
   * Open streams one client may hold (counted by {@link clientKey}; single-context and multiplexed
   * alike); past it a stream request is answered 429 `unavailable` with `Retry-After`. Default 1 000.
   */
  readonly maxStreamsPerClient?: number;
  /**
   * Who a request comes from, for `maxStreamsPerClient`; `undefined`: not counted per client.
   * Default: the remote address `toNodeHandler` recorded ({@link remoteAddress}); other runtimes
   * have none and need this option. Behind a proxy every request comes from the proxy: key on
   * what identifies a client there (a user id, or `X-Forwarded-For` as your proxy sets it).
   */
  readonly clientKey?: (request: Request) => string | undefined;
  /** Open single-context streams of one context id at most; past it answered 503 with `Retry-After`. Default 5 000. */
  readonly maxStreamsPerContext?: number;
  /**
   * How long a stream on an id that does not exist waits for it to be created, in ms; then it ends
   * without an event (a client backs off and asks again). Default 10 000.
   */
  readonly missingContextWaitMs?: number;
  /**
   * Receives errors that are not the client's fault (a bug, a failing `authorize`, a stream whose
   * `watch` failed); the client gets a 500 or a closed stream it reconnects. Default: `console.error`.
   */
  readonly onError?: (error: unknown) => void;
}

/** The `code` of an error body: a {@link ChordErrorCode}, or one of the HTTP-only refusals. */
export type SyncErrorCode = ChordErrorCode | 'forbidden' | 'method_not_allowed' | 'payload_too_large' | 'internal';

/** The body of every answer that is not 200: `{ error: { code, message } }`. */
export interface SyncErrorBody {
  readonly error: { readonly code: SyncErrorCode; readonly message: string };
}

const OPTION_KEYS = new Set([
  'basePath',
  'authorize',
  'authorizeWrite',
  'maxWriteBytes',
  'heartbeatMs',
  'maxStreams',
  'maxContextsPerStream',
  'maxStreamsPerClient',
  'clientKey',
  'maxStreamsPerContext',
  'missingContextWaitMs',
  'onError',
]);

const STATUS_OF_CODE: Record<ChordErrorCode, number> = {
  invalid_argument: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  timeout: 503,
  misconfigured: 500,
  statement_failed: 500,
  corrupt_data: 500,
  callback_failed: 502,
};

interface ResolvedOptions {
  readonly basePath: string;
  readonly authorize: NonNullable<SyncHandlerOptions['authorize']>;
  readonly authorizeWrite: SyncHandlerOptions['authorizeWrite'];
  readonly maxWriteBytes: number;
  readonly heartbeatMs: number;
  readonly maxStreams: number;
  readonly maxContextsPerStream: number;
  readonly maxStreamsPerClient: number;
  readonly clientKey: (request: Request) => string | undefined;
  readonly maxStreamsPerContext: number;
  readonly missingContextWaitMs: number;
  readonly onError: (error: unknown) => void;
}

function positiveInteger(value: unknown, argument: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError(argument, `must be an integer ≥ 1, got ${describe(value)}`);
  }
  return value;
}

function resolveOptions(options: SyncHandlerOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  validateOptions(options, 'options', 'sync handler', OPTION_KEYS);
  const basePath = options.basePath ?? DEFAULT_BASE_PATH;
  if (typeof basePath !== 'string' || (basePath !== '' && (!basePath.startsWith('/') || basePath.endsWith('/')))) {
    throw new ValidationError('options.basePath', `must be '' or a path that starts with '/' and does not end with '/', got ${describe(basePath)}`);
  }
  for (const key of ['authorize', 'authorizeWrite', 'onError', 'clientKey'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw new ValidationError(`options.${key}`, `must be a function, got ${describe(options[key])}`);
    }
  }
  return {
    basePath,
    authorize: options.authorize ?? (() => true),
    authorizeWrite: options.authorizeWrite,
    maxWriteBytes: positiveInteger(options.maxWriteBytes ?? DEFAULT_MAX_WRITE_BYTES, 'options.maxWriteBytes'),
    heartbeatMs: positiveInteger(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, 'options.heartbeatMs'),
    maxStreams: positiveInteger(options.maxStreams ?? DEFAULT_MAX_STREAMS, 'options.maxStreams'),
    maxContextsPerStream: positiveInteger(options.maxContextsPerStream ?? DEFAULT_MAX_CONTEXTS_PER_STREAM, 'options.maxContextsPerStream'),
    maxStreamsPerClient: positiveInteger(options.maxStreamsPerClient ?? DEFAULT_MAX_STREAMS_PER_CLIENT, 'options.maxStreamsPerClient'),
    clientKey: options.clientKey ?? remoteAddress,
    maxStreamsPerContext: positiveInteger(options.maxStreamsPerContext ?? DEFAULT_MAX_STREAMS_PER_CONTEXT, 'options.maxStreamsPerContext'),
    missingContextWaitMs: positiveInteger(options.missingContextWaitMs ?? DEFAULT_MISSING_CONTEXT_WAIT_MS, 'options.missingContextWaitMs'),
    onError: options.onError ?? ((error) => console.error('chord-sync http:', error)),
  };
}

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

function errorResponse(status: number, code: SyncErrorCode, message: string, headers?: Record<string, string>): Response {
  const body: SyncErrorBody = { error: { code, message } };
  return jsonResponse(status, body, headers);
}

/**
 * The sync route of api.md "Live sync", as a Web-standard handler:
 *
 * - `GET {basePath}/{encodeURIComponent(id)}?version=V&epoch=E` → 200 with the `SyncResult` as
 *   JSON (what `chord.syncContext(id, V, { epoch: E })` answers);
 * - the same with `Accept: text/event-stream` → 200 and a Server-Sent Events stream of
 *   `chord.watch(id, …)`: `event:` the update's kind, `id:` `<epoch>:<version>` (none for
 *   `deleted`), `data:` the update as JSON, and a comment line every `heartbeatMs` while idle.
 *   `Last-Event-ID` (what a reconnecting client sends) wins over the query. The stream takes an
 *   update from `watch` only when the connection has taken the previous one, so a slow reader has
 *   at most one update waiting and `watch` merges the rest into it.
 *
 * Answers with a JSON body `{ error: { code, message } }`: 400 `invalid_argument` (bad id,
 * version, epoch, `Last-Event-ID` or an unknown query parameter; nothing else is done), 403
 * `forbidden` (`authorize` said no), 404 `not_found` (unknown id for the JSON route; a path outside
 * `basePath`), 405 `method_not_allowed` (not GET), 503 `unavailable` (`maxStreams` streams open, or
 * the backend is unreachable), 500 `internal` (anything else; given to `onError`).
 *
 * @throws ValidationError when an option is not acceptable.
 */
export function createSyncHandler(chord: SyncSource | (SyncSource & WriteTarget), options?: SyncHandlerOptions): SyncHandler {
  const config = resolveOptions(options);
  const writes = config.authorizeWrite === undefined ? undefined : writeTargetOf(chord);
  const allow = writes === undefined ? 'GET' : 'GET, POST';
  let openStreams = 0;
  const perClient = new Map<string, number>();
  const perContext = new Map<string, number>();
  const bump = (counts: Map<string, number>, key: string, by: number): void => {
    const next = (counts.get(key) ?? 0) + by;
    if (next === 0) counts.delete(key);
    else counts.set(key, next);
  };

  return async function handleSync(request: Request): Promise<Response> {
    // The slots this request holds, given back once (by the stream when it ends, else below).
    let held: (() => void) | undefined;
    /** Takes a stream slot (global, per client, per context), or answers why not. */
    const take = (contextId: string | undefined): Response | undefined => {
      if (openStreams >= config.maxStreams) return tooManyStreams(config);
      const client = config.clientKey(request);
      if (client !== undefined && (perClient.get(client) ?? 0) >= config.maxStreamsPerClient) {
        return errorResponse(429, 'unavailable', `too many open streams from this client (maxStreamsPerClient ${config.maxStreamsPerClient}); close one or retry later`, {
          'retry-after': String(RETRY_AFTER_SECONDS),
        });
      }
      if (contextId !== undefined && (perContext.get(contextId) ?? 0) >= config.maxStreamsPerContext) {
        return errorResponse(503, 'unavailable', `too many open streams on context ${JSON.stringify(contextId)} (maxStreamsPerContext ${config.maxStreamsPerContext}); retry later`, {
          'retry-after': String(RETRY_AFTER_SECONDS),
        });
      }
      // Taken before `authorize` awaits, so concurrent requests cannot all pass the checks at once.
      openStreams++;
      if (client !== undefined) bump(perClient, client, 1);
      if (contextId !== undefined) bump(perContext, contextId, 1);
      let given = false;
      held = () => {
        if (given) return;
        given = true;
        openStreams--;
        if (client !== undefined) bump(perClient, client, -1);
        if (contextId !== undefined) bump(perContext, contextId, -1);
      };
      return undefined;
    };
    let slotTaken = false;
    try {
      if (request.method === 'POST' && writes !== undefined && config.authorizeWrite !== undefined) {
        return await handleWrite(writes, config.authorizeWrite, request);
      }
      if (request.method !== 'GET') {
        await request.body?.cancel().catch(() => {});
        const refusal = request.method === 'POST' ? 'writes are not enabled on this sync route (no authorizeWrite)' : `method ${request.method} is not allowed on the sync route; use ${allow}`;
        return errorResponse(405, 'method_not_allowed', refusal, { allow });
      }
      const followed = parseMultiplexRequest(request, config.basePath);
      if (followed !== undefined) {
        const refused = take(undefined);
        if (refused !== undefined) return refused;
        slotTaken = true;
        const release = held as () => void;
        // Each context is authorized on its own inside the stream: a refusal is that context's `error` event.
        const response = multiplexResponse(chord, request, followed, config, release);
        slotTaken = false;
        return response;
      }
      const parsed = parseSyncRequest(request, config.basePath);
      if (parsed.stream) {
        const refused = take(parsed.contextId);
        if (refused !== undefined) return refused;
        slotTaken = true;
      }
      if ((await config.authorize(request, parsed.contextId)) !== true) {
        return errorResponse(403, 'forbidden', `not allowed to read context ${JSON.stringify(parsed.contextId)}`);
      }
      if (!parsed.stream) {
        const result = await chord.syncContext(parsed.contextId, parsed.version, parsed.epoch === undefined ? undefined : { epoch: parsed.epoch });
        return jsonResponse(200, toWireSyncAnswer(result));
      }
      slotTaken = false; // the stream gives the slot back when it ends, or when it fails to start
      return await streamResponse(chord, request, parsed, config, held as () => void);
    } catch (error) {
      if (error instanceof WriteTooLargeError) return errorResponse(413, 'payload_too_large', error.message);
      if (error instanceof ChordError) {
        const status = STATUS_OF_CODE[error.code] ?? 500;
        // 503: the backend is unreachable or slow; the client is told when to come back, so that an
        // outage is not met by every client reconnecting at once, over and over.
        if (error.code === 'unavailable' || error.code === 'timeout') return errorResponse(status, error.code, error.message, { 'retry-after': String(RETRY_AFTER_SECONDS) });
        if (status < 500) return errorResponse(status, error.code, error.message);
        // The server's own fault: the details (table names, stored data) are for its operator, not the client.
        config.onError(error);
        return errorResponse(status, error.code, `the server failed to answer (${error.code})`);
      }
      config.onError(error);
      return errorResponse(500, 'internal', 'internal error while serving the sync route');
    } finally {
      if (slotTaken) held?.();
    }
  };

  async function handleWrite(target: WriteTarget, authorizeWrite: NonNullable<SyncHandlerOptions['authorizeWrite']>, request: Request): Promise<Response> {
    // The id first (a bad one is refused before the body is read), then the body, in full.
    const { contextId } = parseSyncRequest(request, config.basePath);
    const { request: sent, write } = parseWriteBody(await readBoundedBody(request, config.maxWriteBytes));
    if ((await authorizeWrite(request, contextId, write)) !== true) {
      return errorResponse(403, 'forbidden', `not allowed to write context ${JSON.stringify(contextId)}`);
    }
    return jsonResponse(200, await applyClientWrite(target, contextId, sent, write));
  }
}

/** `chord` as the target of writes; `ValidationError` when it cannot take them (checked once, at creation). */
function writeTargetOf(chord: SyncSource | (SyncSource & WriteTarget)): WriteTarget {
  const target = chord as Partial<WriteTarget>;
  if (typeof target.setContext !== 'function' || typeof target.updateContext !== 'function') {
    throw new ValidationError('options.authorizeWrite', 'needs a chord with setContext and updateContext to write through');
  }
  // A Chord on a backend that cannot apply a write exactly once would apply a retried write twice.
  const backend = (chord as { backend?: ChordBackend }).backend;
  if (backend !== undefined && !hasWriteIdRecorder(backend)) {
    throw new ValidationError('options.authorizeWrite', "needs a backend that records write ids (the WriteIdRecorder capability), so a client's retried write is applied once; this one does not");
  }
  return chord as WriteTarget;
}

function tooManyStreams(config: ResolvedOptions): Response {
  return errorResponse(503, 'unavailable', `too many open streams (maxStreams ${config.maxStreams}); retry later`, { 'retry-after': String(RETRY_AFTER_SECONDS) });
}

/**
 * The SSE answer of one context, once its watch has started: a watch that cannot start (the
 * backend unreachable) throws here, so the client gets a 503 with `retry-after` rather than a 200
 * that closes at once (which a client takes as a healthy stream and reopens without backing off).
 * `release` is called once, when the stream ends or fails to start.
 */
async function streamResponse(chord: SyncSource, request: Request, parsed: SyncRequest, config: ResolvedOptions, release: () => void): Promise<Response> {
  const abort = new AbortController();
  let updates: AsyncIterableIterator<LiveUpdate>;
  try {
    // First, so that a watch refusing its arguments leaves nothing behind (the caller answers the error).
    updates = chord.watch(parsed.contextId, {
      version: parsed.version,
      ...(parsed.epoch === undefined ? {} : { epoch: parsed.epoch }),
      signal: abort.signal,
    });
  } catch (error) {
    release();
    throw error;
  }
  const onRequestAbort = (): void => abort.abort();
  if (request.signal.aborted) abort.abort();
  else request.signal.addEventListener('abort', onRequestAbort, { once: true });
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let missingTimer: ReturnType<typeof setTimeout> | undefined;
  let finished = false;
  let delivered = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearInterval(heartbeat);
    clearTimeout(missingTimer);
    request.signal.removeEventListener('abort', onRequestAbort);
    abort.abort();
    // The watch ends on the abort; return() also ends an iterator that ignores signals.
    updates.return?.().catch(() => {});
    release();
  };

  // The first next() starts the watch; its result is the stream's first pull.
  let first: Promise<IteratorResult<LiveUpdate>> | undefined = updates.next();
  first.catch(() => undefined); // awaited below or by the first pull
  const started = (updates as Partial<LiveWatch>).started;
  let missing = false;
  if (typeof started === 'function') {
    let how: WatchStart;
    try {
      how = await started.call(updates);
    } catch (error) {
      finish();
      throw error;
    }
    if (how === 'ended') {
      finish();
      return errorResponse(503, 'unavailable', 'the stream ended before it started; retry later', { 'retry-after': String(RETRY_AFTER_SECONDS) });
    }
    missing = how === 'missing';
  }

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        heartbeat = openEventStream(controller, config.heartbeatMs, () => finished);
        if (missing) {
          // An id that does not exist is waited for a bounded time only: streams on ids that never
          // come would otherwise hold their slots forever. The stream then ends without an event,
          // which a client takes as a failed attempt and retries after its backoff.
          missingTimer = setTimeout(() => {
            if (finished || delivered) return;
            controller.enqueue(encodeComment(`context does not exist (waited ${config.missingContextWaitMs} ms)`));
            finish();
            controller.close();
          }, config.missingContextWaitMs);
        }
      },
      // highWaterMark 0: called only while a reader waits, so an update is taken from `watch`
      // only when the connection can take it; meanwhile `watch` merges changes into one.
      async pull(controller) {
        let next: IteratorResult<LiveUpdate>;
        try {
          const pending = first ?? updates.next();
          first = undefined;
          next = await pending;
        } catch (error) {
          if (!finished) {
            if (!abort.signal.aborted) config.onError(error);
            finish();
            controller.close();
          }
          return;
        }
        if (finished) return;
        if (next.done === true) {
          finish();
          controller.close();
          return;
        }
        delivered = true;
        controller.enqueue(encodeUpdate(next.value));
      },
      cancel() {
        finish();
      },
    },
    { highWaterMark: 0 },
  );
  return eventStreamResponse(body);
}
