// The engine's answers turned into the sync route's wire messages (src/wire/sync.ts), field by
// field: what goes on the wire is what the wire types name, never an internal type as it happens
// to be. The fields are written in the order the built-in backends give them, so the bytes are
// the ones clients have always read.
import type { LiveUpdate } from '../live/index.js';
import type { ContextRecord, SyncResult } from '../types.js';
import type { WireContextRecord, WireSyncAnswer, WireUpdate } from '../wire/sync.js';

/** A stored record as sent. */
export function toWireRecord(record: ContextRecord): WireContextRecord {
  const { contextId, context, version, insertedAt, epoch } = record;
  return epoch === undefined ? { contextId, context, version, insertedAt } : { contextId, context, version, insertedAt, epoch };
}

/** The JSON route's answer for what `syncContext` answered. */
export function toWireSyncAnswer(result: SyncResult): WireSyncAnswer {
  switch (result.kind) {
    case 'full':
      return { kind: 'full', context: toWireRecord(result.context) };
    case 'delta': {
      const { delta, fromVersion, version, epoch } = result;
      return epoch === undefined ? { kind: 'delta', delta, fromVersion, version } : { kind: 'delta', delta, fromVersion, version, epoch };
    }
    case 'no_change':
      return result.epoch === undefined ? { kind: 'no_change', version: result.version } : { kind: 'no_change', version: result.version, epoch: result.epoch };
  }
}

/** The `data:` of the SSE event for one update of `watch`. */
export function toWireUpdate(update: LiveUpdate): WireUpdate {
  switch (update.kind) {
    case 'full':
      return { kind: 'full', context: toWireRecord(update.context) };
    case 'delta':
      return { kind: 'delta', delta: update.delta, fromVersion: update.fromVersion, version: update.version, epoch: update.epoch };
    case 'deleted':
      return { kind: 'deleted', contextId: update.contextId };
  }
}
