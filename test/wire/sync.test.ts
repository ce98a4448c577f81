// The read messages of the sync route: http/ builds them field by field from the engine's types
// (src/http/wire-encode.ts), and the bytes must be the ones the route sent when it serialized
// the engine's answers as they were (no protocol change). And the event id round-trips.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { LiveUpdate } from '../../src/index.js';
import type { ContextRecord, SyncResult } from '../../src/types.js';
import { parseEventId } from '../../src/http/request.js';
import { toWireSyncAnswer, toWireUpdate } from '../../src/http/wire-encode.js';
import { formatEventId, splitEventId } from '../../src/wire/event-id.js';
import { objectArb } from '../delta/support.js';

const epochArb = fc.option(fc.string({ minLength: 1, maxLength: 40 }).filter((e) => !/[\u0000-\u001f\u007f]/.test(e)), { nil: undefined });
const versionArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

// A record as every built-in backend builds it: these fields in this order, `epoch` last or absent.
const recordArb: fc.Arbitrary<ContextRecord> = fc
  .record({ contextId: fc.string({ minLength: 1 }), context: objectArb, version: versionArb, insertedAt: fc.integer({ min: 0 }), epoch: epochArb })
  .map(({ epoch, ...rest }) => (epoch === undefined ? rest : { ...rest, epoch }));

const syncResultArb: fc.Arbitrary<SyncResult> = fc.oneof(
  recordArb.map((context) => ({ kind: 'full' as const, context })),
  fc
    .record({ delta: objectArb, fromVersion: versionArb, version: versionArb, epoch: epochArb })
    .map(({ epoch, ...rest }) => (epoch === undefined ? { kind: 'delta' as const, ...rest } : { kind: 'delta' as const, ...rest, epoch })),
  fc.record({ version: versionArb, epoch: epochArb }).map(({ version, epoch }) => (epoch === undefined ? { kind: 'no_change' as const, version } : { kind: 'no_change' as const, version, epoch })),
);

const liveUpdateArb: fc.Arbitrary<LiveUpdate> = fc.oneof(
  recordArb.map((context) => ({ kind: 'full' as const, context })),
  fc
    .record({ delta: objectArb, fromVersion: versionArb, version: versionArb, epoch: fc.string({ maxLength: 40 }) })
    .map((d) => ({ kind: 'delta' as const, delta: d.delta, fromVersion: d.fromVersion, version: d.version, epoch: d.epoch })),
  fc.string({ minLength: 1 }).map((contextId) => ({ kind: 'deleted' as const, contextId })),
);

describe('wire messages of the sync route', () => {
  test('law: the JSON sync answer is byte for byte the engine answer serialized as it is', () => {
    fc.assert(fc.property(syncResultArb, (result) => JSON.stringify(toWireSyncAnswer(result)) === JSON.stringify(result)));
  });

  test('law: an SSE event data is byte for byte the watch update serialized as it is', () => {
    fc.assert(fc.property(liveUpdateArb, (update) => JSON.stringify(toWireUpdate(update)) === JSON.stringify(update)));
  });

  test('an internal field that is not in the wire types is not sent', () => {
    const record = { contextId: 'a', context: { x: 1 }, version: 2, insertedAt: 3, epoch: 'e', extra: 'internal' } as ContextRecord;
    expect(toWireSyncAnswer({ kind: 'full', context: record })).toEqual({ kind: 'full', context: { contextId: 'a', context: { x: 1 }, version: 2, insertedAt: 3, epoch: 'e' } });
  });

  test('law: an event id splits and parses back into the epoch and version it was made of, whatever `:` the epoch holds', () => {
    fc.assert(
      fc.property(epochArb, versionArb, (epoch, version) => {
        const id = formatEventId(epoch, version);
        expect(splitEventId(id)).toEqual({ epochText: epoch ?? '', versionText: String(version) });
        expect(parseEventId(id)).toEqual({ version, epoch });
      }),
    );
  });

  test('an event id without `:` does not split', () => {
    expect(splitEventId('12')).toBeUndefined();
  });
});
