import { NotFoundError, ValidationError } from '../errors.js';
import { MAX_EPOCH_LENGTH, describe, validateContextId } from '../validation.js';
import { splitEventId } from '../wire/event-id.js';

// One limit with the engine's sync: an epoch the route lets through, the engine takes.
export { MAX_EPOCH_LENGTH };

const QUERY_KEYS = new Set(['version', 'epoch']);
const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Where a client stands: the version it holds and the epoch that version belongs to. */
export interface ClientPosition {
  readonly version: number | null;
  readonly epoch: string | undefined;
}

/** A request to the sync route, checked in full before anything is read or called. */
export interface SyncRequest extends ClientPosition {
  readonly contextId: string;
  /** `Accept` asks for `text/event-stream`. */
  readonly stream: boolean;
}

function parseVersion(text: string, argument: string): number {
  const value = Number(text);
  if (!DECIMAL.test(text) || !Number.isSafeInteger(value)) {
    throw new ValidationError(argument, `must be an integer from 0 to ${Number.MAX_SAFE_INTEGER} in decimal, got ${describe(text)}`);
  }
  return value;
}

/** Throws `ValidationError` naming `argument` unless `text` is an acceptable epoch. */
export function checkEpoch(text: string, argument: string): string {
  if (text.length === 0) throw new ValidationError(argument, 'must not be empty');
  if (text.length > MAX_EPOCH_LENGTH) {
    throw new ValidationError(argument, `must be at most ${MAX_EPOCH_LENGTH} characters, got ${text.length}`);
  }
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new ValidationError(argument, `must not contain control characters, got ${describe(text)}`);
  return text;
}

/**
 * Reads a `Last-Event-ID` of the form `<epoch>:<version>` (the `id:` of the events this handler
 * sends). The epoch is opaque and may itself contain `:`, so the version is after the last one;
 * an empty epoch stands for a context whose backend keeps no epochs.
 */
export function parseEventId(text: string): ClientPosition {
  const parts = splitEventId(text);
  if (parts === undefined) throw new ValidationError('Last-Event-ID', `must be <epoch>:<version>, got ${describe(text)}`);
  const version = parseVersion(parts.versionText, 'Last-Event-ID');
  return { version, epoch: parts.epochText === '' ? undefined : checkEpoch(parts.epochText, 'Last-Event-ID') };
}

/** Whether an `Accept` header asks for `text/event-stream`. */
export function wantsEventStream(accept: string | null): boolean {
  if (accept === null) return false;
  return accept.split(',').some((part) => part.split(';')[0]?.trim().toLowerCase() === 'text/event-stream');
}

/**
 * Parses a request to `{basePath}/{encodeURIComponent(id)}?version=V&epoch=E`.
 *
 * @throws NotFoundError when the path is not under `basePath` (no such route).
 * @throws ValidationError when the id, the query or `Last-Event-ID` is not acceptable; the message
 *   names which and what was wrong. Unknown or repeated query parameters are refused, not ignored.
 */
export function parseSyncRequest(request: Request, basePath: string): SyncRequest {
  const url = new URL(request.url);
  const prefix = `${basePath}/`;
  if (!url.pathname.startsWith(prefix)) throw new NotFoundError(url.pathname, `no route for ${describe(url.pathname)}: the sync route is ${prefix}{contextId}`);
  const segment = url.pathname.slice(prefix.length);
  if (segment.includes('/')) {
    throw new ValidationError('contextId', `must be one path segment (encodeURIComponent), got ${describe(segment)}`);
  }
  let contextId: string;
  try {
    contextId = decodeURIComponent(segment);
  } catch (cause) {
    throw new ValidationError('contextId', `is not valid percent-encoded UTF-8: ${describe(segment)}`, { cause });
  }
  validateContextId(contextId);

  const seen = new Set<string>();
  for (const key of url.searchParams.keys()) {
    if (!QUERY_KEYS.has(key)) throw new ValidationError(`query.${key}`, 'is not a parameter of the sync route (known: version, epoch)');
    if (seen.has(key)) throw new ValidationError(`query.${key}`, 'is given more than once');
    seen.add(key);
  }
  const versionText = url.searchParams.get('version');
  const epochText = url.searchParams.get('epoch');
  let version = versionText === null ? null : parseVersion(versionText, 'query.version');
  let epoch = epochText === null ? undefined : checkEpoch(epochText, 'query.epoch');
  if (epoch !== undefined && version === null) throw new ValidationError('query.epoch', 'is only meaningful with a version');

  const stream = wantsEventStream(request.headers.get('accept'));
  // A reconnecting EventSource repeats the URL it first opened, so the event id it sends wins over the query.
  const lastEventId = stream ? request.headers.get('last-event-id') : null;
  if (lastEventId !== null && lastEventId !== '') ({ version, epoch } = parseEventId(lastEventId));
  return { contextId, version, epoch, stream };
}
