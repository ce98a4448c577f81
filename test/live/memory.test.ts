import { describe, test } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { runLiveConformance } from '../../src/testing/index.js';

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
  runLiveConformance({ describe, test }, { makeBackend: ({ clock }) => new MemoryBackend({ clock }) }, { propertyRuns: 100 });
});

describe('live on memory without change notices (polling)', () => {
  runLiveConformance(
    { describe, test },
    { makeBackend: ({ clock }) => withoutNotices(new MemoryBackend({ clock })) },
    { changeNotices: false, pollMs: 5, propertyRuns: 20 },
  );
});
