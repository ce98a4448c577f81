// The messages of the multiplexed stream (`GET {basePath}?contexts=…`, one SSE stream for many
// contexts), shared by http/ (which serves it) and client/ (ChordConnection, which reads it). Pure:
// no node: module, nothing of the engine at run time.
//
// The request names every context followed and the state the client holds of each, so a stream
// needs no session on the server: any process on the same storage can serve a reconnect, and each
// context resumes from exactly what the client holds.
import { ValidationError } from '../errors.js';
import type { WireContextRecord, WireDelta, WireUpdate } from './sync.js';
import { describe } from '../validation.js';

/** The query parameter that carries the followed contexts: `{basePath}?contexts=<JSON>`. */
export const FOLLOW_PARAMETER = 'contexts';

/** One context a multiplexed stream follows, and where the client stands in it. */
export interface FollowedContext {
  readonly contextId: string;
  /** The version held; `null` when nothing is held (the first update is `full`). */
  readonly version: number | null;
  /** The epoch `version` belongs to; `undefined` when not known (or nothing is held). */
  readonly epoch: string | undefined;
}

/**
 * The `contexts` parameter: a JSON array with one entry per context, `[id]` when nothing is held,
 * `[id, version]` or `[id, version, epoch]` for the state held. Each id once.
 */
export function encodeFollowList(contexts: readonly FollowedContext[]): string {
  return JSON.stringify(
    contexts.map(({ contextId, version, epoch }) => (version === null ? [contextId] : epoch === undefined ? [contextId, version] : [contextId, version, epoch])),
  );
}

/**
 * One entry of a decoded list: what the client asked for. `version` and `epoch` are not checked
 * here (the server checks them for that context alone, so one bad entry spoils no other).
 */
export interface FollowEntry {
  readonly contextId: string;
  readonly version: unknown;
  readonly epoch: unknown;
}

/**
 * Reads the `contexts` parameter: a JSON array of arrays whose first item is a string id.
 *
 * @throws ValidationError (argument `query.contexts`) when it is not JSON, not such an array, empty,
 *   or names an id twice.
 */
export function decodeFollowList(text: string): FollowEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ValidationError(`query.${FOLLOW_PARAMETER}`, `must be JSON, got ${describe(text.slice(0, 100))}`, { cause });
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new ValidationError(`query.${FOLLOW_PARAMETER}`, 'must be a non-empty JSON array of [id, version?, epoch?]');
  }
  const seen = new Set<string>();
  return parsed.map((entry: unknown, index) => {
    if (!Array.isArray(entry) || entry.length < 1 || entry.length > 3 || typeof entry[0] !== 'string') {
      throw new ValidationError(`query.${FOLLOW_PARAMETER}[${index}]`, `must be [id, version?, epoch?] with a string id, got ${describe(entry)}`);
    }
    const contextId = entry[0];
    if (seen.has(contextId)) throw new ValidationError(`query.${FOLLOW_PARAMETER}[${index}]`, `names context ${JSON.stringify(contextId)} a second time`);
    seen.add(contextId);
    return { contextId, version: entry[1] ?? null, epoch: entry[2] };
  });
}

/**
 * An update of one context on the multiplexed stream: the {@link WireUpdate} of the single-context
 * stream with the id of the context it belongs to. The SSE event's name is `kind`; the event has no `id:` field.
 */
export type MultiplexUpdate =
  | { readonly kind: 'full'; readonly contextId: string; readonly context: WireContextRecord }
  | {
      readonly kind: 'delta';
      readonly contextId: string;
      readonly delta: WireDelta;
      readonly fromVersion: number;
      readonly version: number;
      /** The epoch both versions belong to (`''` on a backend without epochs). */
      readonly epoch: string;
    }
  | { readonly kind: 'deleted'; readonly contextId: string };

/**
 * The server stopped following one context on this stream (the others go on): `authorize`
 * refused it (`forbidden`), its entry is not acceptable or past the cap (`invalid_argument`), or
 * reading it failed (`unavailable`, `internal`…: worth another try later).
 */
export interface MultiplexError {
  readonly kind: 'error';
  readonly contextId: string;
  readonly error: { readonly code: string; readonly message: string };
}

/** Every event of the multiplexed stream. */
export type MultiplexEvent = MultiplexUpdate | MultiplexError;

/**
 * Whether an `error` event's code may clear up by itself (the backend came back, a bug was fixed):
 * true for everything but a refusal of the request itself (`forbidden`, `invalid_argument`), which
 * the same request meets again.
 */
export function isRetryableCode(code: string): boolean {
  return code !== 'forbidden' && code !== 'invalid_argument';
}

/** The multiplexed form of `update` of `contextId` (built field by field: the wire owns its shape). */
export function toMultiplexUpdate(contextId: string, update: WireUpdate): MultiplexUpdate {
  switch (update.kind) {
    case 'full':
      return { kind: 'full', contextId, context: update.context };
    case 'delta':
      return { kind: 'delta', contextId, delta: update.delta, fromVersion: update.fromVersion, version: update.version, epoch: update.epoch };
    case 'deleted':
      return { kind: 'deleted', contextId };
  }
}
