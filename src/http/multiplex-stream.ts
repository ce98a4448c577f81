import { ChordError, ValidationError } from '../errors.js';
import type { LiveUpdate } from '../live/index.js';
import { describe, validateContextId, validateVersion } from '../validation.js';
import { FOLLOW_PARAMETER, type FollowEntry, decodeFollowList } from '../wire/multiplex.js';
import { checkEpoch, wantsEventStream } from './request.js';
import { encodeMultiplexError, encodeMultiplexUpdate, eventStreamResponse, openEventStream } from './sse.js';
import type { SyncSource } from './sync-source.js';

/** Contexts one multiplexed stream follows at most; the ones past it get an `error` event each. */
export const DEFAULT_MAX_CONTEXTS_PER_STREAM = 100;

/** What the multiplexed stream needs of the handler's options. */
export interface MultiplexStreamConfig {
  readonly authorize: (request: Request, contextId: string) => boolean | Promise<boolean>;
  readonly heartbeatMs: number;
  readonly maxContextsPerStream: number;
  readonly onError: (error: unknown) => void;
}

/**
 * The followed contexts of a request to the multiplexed route (`GET {basePath}?contexts=…`, the
 * base path with no id segment: ids are never empty, so it cannot be a context's URL), or
 * `undefined` when the request is for another route.
 *
 * @throws ValidationError when the request is for this route but not acceptable as a whole: not
 *   asking for `text/event-stream`, a query parameter other than `contexts` (or it twice), or a
 *   `contexts` that {@link decodeFollowList} refuses.
 */
export function parseMultiplexRequest(request: Request, basePath: string): FollowEntry[] | undefined {
  const url = new URL(request.url);
  if (url.pathname !== (basePath === '' ? '/' : basePath)) return undefined;
  if (!wantsEventStream(request.headers.get('accept'))) {
    throw new ValidationError('accept', `the multiplexed route ${basePath || '/'} serves only text/event-stream`);
  }
  const keys = [...url.searchParams.keys()];
  for (const key of keys) {
    if (key !== FOLLOW_PARAMETER) throw new ValidationError(`query.${key}`, `is not a parameter of the multiplexed route (known: ${FOLLOW_PARAMETER})`);
  }
  if (keys.length !== 1) throw new ValidationError(`query.${FOLLOW_PARAMETER}`, keys.length === 0 ? 'is required' : 'is given more than once');
  return decodeFollowList(url.searchParams.get(FOLLOW_PARAMETER)!);
}

/** Where `entry` asks to start, or the error that refuses it (for that context alone). */
function startOf(entry: FollowEntry, index: number): { version: number | null; epoch: string | undefined } {
  const argument = `query.${FOLLOW_PARAMETER}[${index}]`;
  validateContextId(entry.contextId, `${argument}.id`);
  const version = entry.version;
  if (version !== null) validateVersion(version, `${argument}.version`);
  if (entry.epoch === undefined) return { version, epoch: undefined };
  if (typeof entry.epoch !== 'string') throw new ValidationError(`${argument}.epoch`, `must be a string, got ${describe(entry.epoch)}`);
  if (version === null) throw new ValidationError(`${argument}.epoch`, 'is only meaningful with a version');
  return { version, epoch: checkEpoch(entry.epoch, `${argument}.epoch`) };
}

interface Offer {
  readonly bytes: Uint8Array;
  readonly taken: () => void;
}

/**
 * The multiplexed SSE response: one `chord.watch` per followed context (each a watcher of the
 * hub's one channel per context, so a change is still read once per process), each authorized on
 * its own, their updates interleaved on one body. Each context has at most one update waiting to
 * be sent: its watch is asked for the next only once the connection took the last, so a slow
 * reader holds one merged update per context, never a queue. A context refused, malformed, past
 * the cap or whose watch failed gets one `error` event and is followed no more; the others go on.
 */
export function multiplexResponse(chord: SyncSource, request: Request, entries: readonly FollowEntry[], config: MultiplexStreamConfig, release: () => void): Response {
  const abort = new AbortController();
  const ready: Offer[] = [];
  let wakeReader: (() => void) | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let finished = false;

  /** Resolves once the connection took `bytes` (or the stream ended). */
  const offer = (bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      if (finished) return resolve();
      ready.push({ bytes, taken: resolve });
      wakeReader?.();
    });

  const finish = (): void => {
    if (finished) return;
    finished = true;
    clearInterval(heartbeat);
    request.signal.removeEventListener('abort', onRequestAbort);
    abort.abort();
    for (const waiting of ready.splice(0)) waiting.taken();
    wakeReader?.();
    release();
  };

  // The connection closed: every watch ends and the slot is given back at once.
  const onRequestAbort = (): void => finish();
  if (request.signal.aborted) finish();
  else request.signal.addEventListener('abort', onRequestAbort, { once: true });

  const follow = async (entry: FollowEntry, index: number): Promise<void> => {
    const { contextId } = entry;
    if (index >= config.maxContextsPerStream) {
      await offer(encodeMultiplexError(contextId, 'invalid_argument', `past maxContextsPerStream (${config.maxContextsPerStream}): follow it on another stream`));
      return;
    }
    let start: { version: number | null; epoch: string | undefined };
    try {
      start = startOf(entry, index);
    } catch (error) {
      await offer(encodeMultiplexError(contextId, 'invalid_argument', (error as ValidationError).message));
      return;
    }
    let allowed: boolean;
    try {
      allowed = (await config.authorize(request, contextId)) === true;
    } catch (error) {
      config.onError(error);
      await offer(encodeMultiplexError(contextId, 'internal', 'internal error while authorizing this context'));
      return;
    }
    if (abort.signal.aborted) return;
    if (!allowed) {
      await offer(encodeMultiplexError(contextId, 'forbidden', `not allowed to read context ${JSON.stringify(contextId)}`));
      return;
    }
    const updates = chord.watch(contextId, { version: start.version, ...(start.epoch === undefined ? {} : { epoch: start.epoch }), signal: abort.signal });
    try {
      for (;;) {
        let next: IteratorResult<LiveUpdate>;
        try {
          next = await updates.next();
        } catch (error) {
          if (abort.signal.aborted) return;
          const code = error instanceof ChordError ? error.code : 'internal';
          // As on the single stream: what is not the client's fault is for the operator, not the client.
          const own = code === 'unavailable' || code === 'timeout';
          if (!own) config.onError(error);
          await offer(encodeMultiplexError(contextId, code, own ? (error as Error).message : `the server failed to read this context (${code})`));
          return;
        }
        if (next.done === true || abort.signal.aborted) return;
        await offer(encodeMultiplexUpdate(contextId, next.value));
        if (abort.signal.aborted) return;
      }
    } finally {
      // The watch ends on the abort; return() also ends an iterator that ignores signals.
      updates.return?.().catch(() => {});
    }
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        heartbeat = openEventStream(controller, config.heartbeatMs, () => finished);
        if (finished) return;
        entries.forEach((entry, index) => {
          follow(entry, index).catch((error: unknown) => config.onError(error));
        });
      },
      // highWaterMark 0: called only while a reader waits, so one update at a time leaves the
      // queue, first come first sent, and each context's watch merges what comes meanwhile.
      async pull(controller) {
        while (ready.length === 0 && !finished) {
          await new Promise<void>((resolve) => {
            wakeReader = resolve;
          });
          wakeReader = undefined;
        }
        const next = ready.shift();
        if (finished || next === undefined) {
          try {
            controller.close();
          } catch {
            // Already cancelled by the reader: nothing left to close.
          }
          return;
        }
        controller.enqueue(next.bytes);
        next.taken();
      },
      cancel() {
        finish();
      },
    },
    { highWaterMark: 0 },
  );
  return eventStreamResponse(body);
}
