import { formatEventId } from './request.js';
import type { LiveUpdate } from '../live/index.js';

const encoder = new TextEncoder();

/**
 * One Server-Sent Event for an update: `event:` its kind, `id:` `<epoch>:<version>` (a `deleted`
 * has none: there is no position to resume from), `data:` the update as JSON. JSON.stringify never
 * emits a raw line break, so the data is always one `data:` line.
 */
export function encodeUpdate(update: LiveUpdate): Uint8Array {
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
