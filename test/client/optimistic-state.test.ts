import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type OptimisticView, OptimisticState, type Settlement } from '../../src/client/optimistic-state.js';
import { applyChanges, unset } from '../../src/delta/index.js';
import type { JsonObject } from '../../src/types.js';

const KEYS = ['a', 'b', 'c'];

/** Random update changes over a few keys, nested one level, with `unset` among the values. */
const changesArb = fc.dictionary(
  fc.constantFrom(...KEYS),
  fc.oneof(
    fc.integer({ min: 0, max: 9 }),
    fc.constant(unset),
    fc.constant(null),
    fc.dictionary(fc.constantFrom(...KEYS), fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(unset)), { maxKeys: 2 }),
  ),
  { minKeys: 1, maxKeys: 3 },
) as fc.Arbitrary<Record<string, unknown>>;

type Step =
  | { kind: 'clientUpdate'; changes: Record<string, unknown> }
  | { kind: 'clientSet'; context: JsonObject }
  | { kind: 'serverTakes'; refuse: boolean } // the server applies (or refuses) the oldest write sent to it
  | { kind: 'answerArrives' } // the answer of the oldest applied write reaches the client
  | { kind: 'otherWrite'; changes: Record<string, unknown> } // someone else writes on the server
  | { kind: 'push'; lag: number }; // the stream delivers a state the server had, `lag` versions behind at most

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  changesArb.map((changes) => ({ kind: 'clientUpdate' as const, changes })),
  fc.dictionary(fc.constantFrom(...KEYS), fc.integer({ min: 0, max: 9 }), { maxKeys: 2 }).map((context) => ({ kind: 'clientSet' as const, context })),
  fc.boolean().map((refuse) => ({ kind: 'serverTakes' as const, refuse })),
  fc.constant({ kind: 'answerArrives' as const }),
  changesArb.map((changes) => ({ kind: 'otherWrite' as const, changes })),
  fc.integer({ min: 0, max: 2 }).map((lag) => ({ kind: 'push' as const, lag })),
);

/** The law: what `state` must be, computed here from `confirmed` and the writes still held. */
function expectedState(machine: OptimisticState): OptimisticView | null {
  let state = machine.confirmed;
  for (const { write } of machine.writes) {
    if (write.kind === 'set') state = { context: write.context, version: state?.version ?? 0, epoch: state?.epoch };
    else if (state !== null) state = { ...state, context: applyChanges(state.context, write.changes) };
  }
  return state;
}

/** Runs `steps` against the machine and a model server (one epoch); then delivers everything outstanding. */
function run(steps: Step[]): void {
  const machine = new OptimisticState();
  const history: JsonObject[] = [{ a: 1 }]; // the server's context at version i + 1
  const epoch = 'E';
  const current = (): OptimisticView => ({ context: history.at(-1)!, version: history.length, epoch });
  let delivered = 0; // versions the stream has delivered
  const applied: Array<{ writeId: number; version: number }> = []; // applied, answer not yet delivered
  const settled = new Map<number, Settlement>();
  const record = (settlements: Settlement[]): void => {
    for (const s of settlements) {
      expect(settled.has(s.write.writeId)).toBe(false); // each write settles once
      settled.set(s.write.writeId, s);
    }
  };
  const writes = new Map<number, { kind: 'update' | 'set'; value: unknown }>();
  record(machine.received(current()));
  delivered = 1;

  const serverTakes = (refuse: boolean): void => {
    // The sender sends one write at a time: the oldest queued one.
    const next = machine.nextToSend();
    if (next === undefined || applied.some((a) => a.writeId === next.writeId)) return;
    if (refuse) {
      record(machine.refused(next.writeId, new Error('refused')));
      return;
    }
    const write = next.write;
    const before = history.at(-1)!;
    const after = write.kind === 'set' ? write.context : applyChanges(before, write.changes);
    if (JSON.stringify(after) !== JSON.stringify(before)) history.push(after);
    applied.push({ writeId: next.writeId, version: history.length });
  };
  const answerArrives = (): void => {
    const first = applied.shift();
    if (first !== undefined) record(machine.answered(first.writeId, { version: first.version, epoch }));
  };

  for (const step of steps) {
    switch (step.kind) {
      case 'clientUpdate': {
        const held = machine.add({ kind: 'update', changes: step.changes });
        writes.set(held.writeId, { kind: 'update', value: step.changes });
        break;
      }
      case 'clientSet': {
        const held = machine.add({ kind: 'set', context: step.context });
        writes.set(held.writeId, { kind: 'set', value: step.context });
        break;
      }
      case 'serverTakes':
        // Only after the previous answer was delivered: one write in flight at a time.
        if (applied.length === 0) serverTakes(step.refuse);
        break;
      case 'answerArrives':
        answerArrives();
        break;
      case 'otherWrite': {
        const next = applyChanges(history.at(-1)!, step.changes);
        if (JSON.stringify(next) !== JSON.stringify(history.at(-1))) history.push(next);
        break;
      }
      case 'push': {
        const version = Math.max(delivered, history.length - step.lag);
        if (version > delivered) {
          delivered = version;
          record(machine.received({ context: history[version - 1]!, version, epoch }));
        }
        break;
      }
    }
    expect(machine.state).toEqual(expectedState(machine));
  }
  // Drain: every write is taken and answered, then the stream catches up.
  for (let guard = 0; machine.nextToSend() !== undefined || applied.length > 0; guard++) {
    expect(guard).toBeLessThan(1000);
    answerArrives();
    serverTakes(false);
    expect(machine.state).toEqual(expectedState(machine));
  }
  record(machine.received(current()));
  expect(machine.pending).toBe(0);
  expect(machine.state).toEqual(current());
  expect(machine.confirmed).toEqual(current());
  for (const writeId of writes.keys()) {
    const s = settled.get(writeId);
    expect(s?.outcome === 'resolved' || s?.outcome === 'refused').toBe(true);
  }
}

describe('OptimisticState', () => {
  test('law: after any interleaving of writes, answers, refusals, foreign writes and (lagging) pushes, state is confirmed with the held writes applied in order, and it ends equal to the server with nothing pending', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => run(steps)),
      { numRuns: 300 },
    );
  });

  test('a write shows in state at once; confirmed does not have it until the server sends a state holding it', () => {
    const machine = new OptimisticState();
    machine.received({ context: { n: 1 }, version: 1, epoch: 'E' });
    const held = machine.add({ kind: 'update', changes: { n: 2, gone: unset } });
    expect(machine.state).toEqual({ context: { n: 2 }, version: 1, epoch: 'E' });
    expect(machine.confirmed!.context).toEqual({ n: 1 });
    expect(machine.answered(held.writeId, { version: 2, epoch: 'E' })).toEqual([]); // answered, not yet confirmed
    expect(machine.pending).toBe(1);
    const [settlement] = machine.received({ context: { n: 2 }, version: 2, epoch: 'E' });
    expect(settlement).toMatchObject({ outcome: 'resolved', state: { version: 2 } });
    expect(machine.pending).toBe(0);
  });

  test('rebase: a server state arriving while a write is pending shows both', () => {
    const machine = new OptimisticState();
    machine.received({ context: { a: 1 }, version: 1, epoch: 'E' });
    machine.add({ kind: 'update', changes: { mine: true } });
    machine.received({ context: { a: 1, theirs: true }, version: 2, epoch: 'E' });
    expect(machine.state!.context).toEqual({ a: 1, theirs: true, mine: true });
  });

  test('refused: the write leaves state as if never made; the writes after it stay', () => {
    const machine = new OptimisticState();
    machine.received({ context: {}, version: 1, epoch: 'E' });
    const first = machine.add({ kind: 'update', changes: { x: 1, y: 1 } });
    machine.add({ kind: 'update', changes: { y: 2 } });
    const [settlement] = machine.refused(first.writeId, 'no');
    expect(settlement).toMatchObject({ outcome: 'refused', reason: 'no' });
    expect(machine.state!.context).toEqual({ y: 2 });
  });

  test('an answer in another epoch waits for that epoch; a state of a third epoch, or leaving the epoch once seen, supersedes the write', () => {
    const waits = new OptimisticState();
    waits.received({ context: { old: true }, version: 7, epoch: 'P' });
    const w = waits.add({ kind: 'set', context: { fresh: true } });
    expect(waits.answered(w.writeId, { version: 1, epoch: 'E' })).toEqual([]);
    expect(waits.received({ context: { old: true, more: 1 }, version: 8, epoch: 'P' })).toEqual([]); // the stream lags in the old life
    expect(waits.received(null)).toEqual([]); // the old life's deletion
    expect(waits.received({ context: { fresh: true }, version: 1, epoch: 'E' })[0]).toMatchObject({ outcome: 'resolved' });

    const third = new OptimisticState();
    third.received({ context: {}, version: 3, epoch: 'P' });
    const t = third.add({ kind: 'update', changes: { k: 1 } });
    third.answered(t.writeId, { version: 1, epoch: 'E' });
    expect(third.received({ context: {}, version: 1, epoch: 'F' })[0]).toMatchObject({ outcome: 'superseded' });
    expect(third.pending).toBe(0);

    const left = new OptimisticState();
    left.received({ context: {}, version: 3, epoch: 'E' });
    const l = left.add({ kind: 'update', changes: { k: 1 } });
    left.answered(l.writeId, { version: 5, epoch: 'E' });
    expect(left.received(null)[0]).toMatchObject({ outcome: 'superseded', state: null });
  });

  test('forget drops confirmed without settling; close settles every write as closed and state falls back to confirmed', () => {
    const machine = new OptimisticState();
    machine.received({ context: { a: 1 }, version: 1, epoch: 'E' });
    const u = machine.add({ kind: 'update', changes: { a: 2 } });
    machine.answered(u.writeId, { version: 2, epoch: 'E' });
    machine.forget();
    expect(machine.state).toBeNull(); // an update has nothing to apply on
    expect(machine.pending).toBe(1);
    machine.received({ context: { a: 1 }, version: 1, epoch: 'E' });
    machine.add({ kind: 'set', context: { s: 1 } });
    expect(machine.close().map((s) => s.outcome)).toEqual(['closed', 'closed']);
    expect(machine.state).toEqual(machine.confirmed);
  });

  test('the machine keeps its own copy: changing the object after add changes nothing', () => {
    const machine = new OptimisticState();
    machine.received({ context: {}, version: 1, epoch: 'E' });
    const changes: Record<string, unknown> = { list: [1], inner: { k: 1 } };
    machine.add({ kind: 'update', changes });
    (changes.list as number[]).push(2);
    (changes.inner as Record<string, unknown>).k = 2;
    expect(machine.state!.context).toEqual({ list: [1], inner: { k: 1 } });
  });
});
