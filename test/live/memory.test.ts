import { describe, expect, test } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { Chord } from '../../src/engine/chord.js';
import { runLiveConformance } from '../../src/testing/index.js';
import { forTarget } from '../support/named.js';

/** `backend` without its change notices: what a user's backend without the capability looks like. */
function withoutNotices(backend: ChordBackend): ChordBackend {
  return new Proxy(backend, {
    get(target, property) {
      if (property === 'subscribeChanges') return undefined;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('live on memory', () => {
  runLiveConformance(forTarget('memory'), { makeBackend: ({ clock }) => new MemoryBackend({ clock }) }, { propertyRuns: 100 });
});

describe('live on memory without change notices (polling)', () => {
  runLiveConformance(
    forTarget('memory, polling'),
    { makeBackend: ({ clock }) => withoutNotices(new MemoryBackend({ clock })) },
    { changeNotices: false, pollMs: 5, propertyRuns: 20 },
  );
});

describe('MemoryBackend change notices', () => {
  test('every write, delete, restore and cleanup deletion is told once its changes are complete; a listener that throws reaches no writer and no other listener', async () => {
    const backend = new MemoryBackend();
    const seen: Array<{ contextId: string; version: number | null; deltaStored: boolean }> = [];
    const thrower = backend.subscribeChanges({
      change() {
        throw new Error('a faulty listener');
      },
      resync() {},
    });
    const subscription = backend.subscribeChanges({
      change(notice) {
        // Read synchronously in the notice: the write's delta must already be there.
        const versions = backend.listDeltas({ contextId: notice.contextId });
        void versions.then((list) => {
          seen.push({ ...notice, deltaStored: notice.version === null || list.some((d) => d.version === notice.version) });
        });
      },
      resync() {},
    });
    await subscription.ready;
    const chord = new Chord({ backend, contextProvider: async () => ({ context: { restored: true }, version: 10 }), contextTtl: 1 });
    await chord.setContext('a', { x: 1 });
    await chord.updateContext('a', { y: 2 });
    await chord.deleteContext('a');
    await chord.restoreContext('b');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await chord.cleanup();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen).toEqual([
      { contextId: 'a', version: 1, deltaStored: true },
      { contextId: 'a', version: 2, deltaStored: true },
      { contextId: 'a', version: null, deltaStored: true },
      { contextId: 'b', version: 10, deltaStored: false },
      { contextId: 'b', version: null, deltaStored: true },
    ]);
    await thrower.close();
    await subscription.close();
    await chord.setContext('c', { z: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen).toHaveLength(5);
  });
});
