/**
 * MemoryBackend (and Chord on it) against the plain-Map baseline, for the operations a Map can do
 * without an ordered index: point reads and writes, per-id deltas, the engine's write and sync.
 */
import { Chord, MemoryBackend } from 'chord-sync';
import type { Case, Side } from '../lib/measure.js';
import { seededContext } from '../lib/database.js';
import { MapReference } from '../reference/map-reference.js';
import { counterDelta } from './ratios.js';

interface MemorySubject {
  setContext: MapReference['setContext'];
  getContext: MapReference['getContext'];
  setDelta: MapReference['setDelta'];
  getDeltas: MapReference['getDeltas'];
  deleteContext: MapReference['deleteContext'];
  write(contextId: string, context: ReturnType<typeof seededContext>): Promise<unknown>;
  sync(contextId: string, clientVersion: number): Promise<unknown>;
}

const CONTEXTS = 1000;
const VERSION = 10;

async function seedMemory(s: MemorySubject): Promise<void> {
  for (let n = 0; n < CONTEXTS; n++) {
    const id = `ctx:${n}`;
    for (let v = 1; v <= VERSION; v++) await s.setDelta(id, counterDelta(v), v);
    await s.setContext(id, seededContext(id, VERSION), VERSION);
  }
}

export async function memoryCases(iterations: number): Promise<Case[]> {
  const backend = new MemoryBackend();
  const chord = new Chord({ backend });
  const memory: MemorySubject = {
    setContext: (id, c, v) => backend.setContext(id, c, v),
    getContext: (id) => backend.getContext(id),
    setDelta: (id, d, v) => backend.setDelta(id, d, v),
    getDeltas: (id, v) => backend.getDeltas(id, v),
    deleteContext: (id) => backend.deleteContext(id),
    write: (id, c) => chord.setContext(id, c),
    sync: (id, v) => chord.syncContext(id, v),
  };
  const map = new MapReference();
  const sides: [string, MemorySubject][] = [
    ['MemoryBackend', memory],
    ['Map', map],
  ];
  for (const [, s] of sides) await seedMemory(s);

  const base = (i: number) => `ctx:${(i * 7919) % CONTEXTS}`;
  const make = (name: string, build: (s: MemorySubject) => Omit<Side, 'label'>): Case => ({
    name,
    iterations,
    sides: sides.map(([label, s]) => ({ label, ...build(s) })),
  });
  return [
    make('setContext', (s) => ({ run: (i, round) => s.setContext(`sc:${i % 50}`, seededContext('set', round * iterations + i), round + 1) })),
    make('getContext', (s) => ({ run: (i) => s.getContext(base(i)) })),
    make('deleteContext', (s) => ({
      prepare: async (round, n) => {
        for (let i = 0; i < n; i++) await s.setContext(`dc:${round}:${i}`, seededContext('dc', 1), 1);
      },
      run: (i, round) => s.deleteContext(`dc:${round}:${i}`),
    })),
    make('setDelta', (s) => ({
      run: (i, round) => {
        const v = round * iterations + i + 1;
        return s.setDelta(`sd:${i % 50}`, counterDelta(v), v);
      },
    })),
    make('getDeltas (5 of 10)', (s) => ({ run: (i) => s.getDeltas(base(i), VERSION - 5) })),
    make('engine write (read, diff, write)', (s) => ({ run: (i, round) => s.write(`ew:${i % 50}`, seededContext('ew', round * iterations + i + 1)) })),
    make('engine sync (5 behind)', (s) => ({ run: (i) => s.sync(base(i), VERSION - 5) })),
  ];
}
