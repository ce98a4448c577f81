// The read messages of the sync route (`GET {basePath}/{id}`), as JSON on the wire: the answer of
// the JSON route and the `data:` of each SSE event. Types only; http/ builds them from the
// engine's own types (http/wire-encode.ts) and client/ reads them. Changing a field here changes
// the protocol.
import type { Delta, JsonObject } from '../types.js';

/** A context as sent: the stored record. */
export interface WireContextRecord {
  readonly contextId: string;
  /** The whole context, a JSON object. */
  readonly context: JsonObject;
  readonly version: number;
  /** When the version was stored, in the server's clock units. */
  readonly insertedAt: number;
  /** The context's epoch; absent when the server's backend keeps none. */
  readonly epoch?: string;
}

/** A delta as sent: what `applyDelta` takes (the wire form, without old values). */
export type WireDelta = Delta;

/** A `full` message: the whole context (nothing held, another epoch, too far behind, deltas gone). */
export interface WireFull {
  readonly kind: 'full';
  readonly context: WireContextRecord;
}

/** What a `delta` message carries: one merged delta taking `fromVersion` to `version`. */
interface WireDeltaBody {
  readonly kind: 'delta';
  readonly delta: WireDelta;
  readonly fromVersion: number;
  readonly version: number;
}

/** The 200 answer of the JSON sync route (what `chord.syncContext` answered). */
export type WireSyncAnswer =
  | WireFull
  /** `epoch` is absent when the server's backend keeps no epochs. */
  | (WireDeltaBody & { readonly epoch?: string })
  | { readonly kind: 'no_change'; readonly version: number; readonly epoch?: string };

/**
 * The `data:` of one SSE event; the event's name (`event:`) is its `kind`. `full` and `delta`
 * events carry an `id:` (see event-id.ts), `deleted` none: there is no state to resume from.
 * A delta's `epoch` is the one both versions belong to, `''` when the backend keeps none.
 */
export type WireUpdate = WireFull | (WireDeltaBody & { readonly epoch: string }) | { readonly kind: 'deleted'; readonly contextId: string };

/** Whether `name` is an SSE event name of the sync stream (one per {@link WireUpdate} kind); others are skipped. */
export function isWireUpdateKind(name: string): name is WireUpdate['kind'] {
  return name === 'full' || name === 'delta' || name === 'deleted';
}
