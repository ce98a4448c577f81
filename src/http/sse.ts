import type { LiveUpdate } from '../live/index.js';
import { type MultiplexError, type MultiplexEvent, toMultiplexUpdate } from '../wire/multiplex.js';
import { formatEventId } from '../wire/event-id.js';
import { toWireUpdate } from './wire-encode.js';

const encoder = new TextEncoder();

/**
 * One Server-Sent Event for an update: `event:` its kind, `id:` `<epoch>:<version>` (a `deleted`
 * has none: there is no position to resume from), `data:` the update as its wire message
 * (src/wire/sync.ts) in JSON. JSON.stringify never emits a raw line break, so the data is always
 * one `data:` line.
 */
export function encodeUpdate(update: LiveUpdate): Uint8Array {
  // Watchers that held the same state share the engine's answer (the same record or delta
  // object), so a change fanned out to many streams is serialized once, not once per stream.
  const shared = update.kind === 'full' ? update.context : update.kind === 'delta' ? update.delta : undefined;
  if (shared !== undefined) {
    const cached = encoded.get(shared);
    if (cached !== undefined && cached.kind === update.kind && cached.position === positionOf(update)) return cached.bytes;
  }
  const bytes = encodeFresh(update);
  if (shared !== undefined) encoded.set(shared, { kind: update.kind, position: positionOf(update), bytes });
  return bytes;
}

interface Encoded {
  readonly kind: LiveUpdate['kind'];
  readonly position: string;
  readonly bytes: Uint8Array;
}

const encoded = new WeakMap<object, Encoded>();

function positionOf(update: LiveUpdate): string {
  if (update.kind === 'delta') return `${update.epoch}:${update.fromVersion}:${update.version}`;
  if (update.kind === 'full') return formatEventId(update.context.epoch, update.context.version);
  return '';
}

function encodeFresh(update: LiveUpdate): Uint8Array {
  let id: string | undefined;
  if (update.kind === 'full') id = formatEventId(update.context.epoch, update.context.version);
  else if (update.kind === 'delta') id = formatEventId(update.epoch, update.version);
  const lines = [`event: ${update.kind}`];
  if (id !== undefined) lines.push(`id: ${id}`);
  lines.push(`data: ${JSON.stringify(toWireUpdate(update))}`, '', '');
  return encoder.encode(lines.join('\n'));
}

/** A comment line: ignored by every SSE parser, it keeps proxies and idle timers from closing the stream. */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`);
}

const multiplexEncoded = new WeakMap<object, Encoded & { readonly contextId: string }>();

/**
 * One event of the multiplexed stream for an update of `contextId`: `event:` its kind, `data:`
 * the update with its `contextId` as JSON, no `id:` (one id cannot name where many contexts
 * stand; a reconnect names each in its query). Serialized once per change, as {@link encodeUpdate}.
 */
export function encodeMultiplexUpdate(contextId: string, update: LiveUpdate): Uint8Array {
  const shared = update.kind === 'full' ? update.context : update.kind === 'delta' ? update.delta : undefined;
  if (shared !== undefined) {
    const cached = multiplexEncoded.get(shared);
    if (cached !== undefined && cached.kind === update.kind && cached.contextId === contextId && cached.position === positionOf(update)) return cached.bytes;
  }
  const bytes = encodeEvent(update.kind, toMultiplexUpdate(contextId, toWireUpdate(update)));
  if (shared !== undefined) multiplexEncoded.set(shared, { kind: update.kind, contextId, position: positionOf(update), bytes });
  return bytes;
}

/** The `error` event of the multiplexed stream: the server no longer follows `contextId` on it. */
export function encodeMultiplexError(contextId: string, code: string, message: string): Uint8Array {
  const event: MultiplexError = { kind: 'error', contextId, error: { code, message } };
  return encodeEvent('error', event);
}

function encodeEvent(name: string, data: MultiplexEvent): Uint8Array {
  return encoder.encode(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The 200 answer that carries an SSE `body`. */
export function eventStreamResponse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx and some other proxies buffer responses unless told not to.
      'x-accel-buffering': 'no',
    },
  });
}

/**
 * Starts an SSE body: the comment `: connected` at once (a client knows the stream is open before
 * any change), then `: heartbeat` every `heartbeatMs` until `finished()`. Returns the interval to clear.
 */
export function openEventStream(controller: ReadableStreamDefaultController<Uint8Array>, heartbeatMs: number, finished: () => boolean): ReturnType<typeof setInterval> {
  controller.enqueue(encodeComment('connected'));
  return setInterval(() => {
    // Only into an empty queue: a reader that is not reading gets no pile of heartbeats either.
    if (!finished() && (controller.desiredSize ?? 0) >= 0) controller.enqueue(encodeComment('heartbeat'));
  }, heartbeatMs);
}
