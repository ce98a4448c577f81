import { formatEventId } from './request.js';
import type { LiveUpdate } from '../live/index.js';

const encoder = new TextEncoder();

/**
 * One Server-Sent Event for an update: `event:` its kind, `id:` `<epoch>:<version>` (a `deleted`
 * has none: there is no position to resume from), `data:` the update as JSON. JSON.stringify never
 * emits a raw line break, so the data is always one `data:` line.
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
  lines.push(`data: ${JSON.stringify(update)}`, '', '');
  return encoder.encode(lines.join('\n'));
}

/** A comment line: ignored by every SSE parser, it keeps proxies and idle timers from closing the stream. */
export function encodeComment(text: string): Uint8Array {
  return encoder.encode(`: ${text}\n\n`);
}
