import { describe, expect, test } from 'vitest';
import * as pkg from '../../src/index.js';
import { Chord, DEFAULT_CONTEXT_TTL, DEFAULT_DELTA_THRESHOLD, DEFAULT_DELTA_TTL, ValidationError } from '../../src/index.js';
import * as testing from '../../src/testing/index.js';
import { manualClock } from '../../src/testing/harness.js';

// Engine behaviour that does not depend on the backend: defaults, config validation, exports.
// Everything backend-dependent is in the conformance suite (conformance.test.ts).

describe('Chord config', () => {
  test('defaults: threshold 100, delta TTL 24 h in ms, contexts never expire, a MemoryBackend on the given clock', async () => {
    expect(DEFAULT_DELTA_THRESHOLD).toBe(100);
    expect(DEFAULT_DELTA_TTL).toBe(24 * 60 * 60 * 1000);
    expect(DEFAULT_CONTEXT_TTL).toBeNull();
    const clock = manualClock(5_000);
    const chord = new Chord({ clock });
    expect(chord.backend).toBeInstanceOf(pkg.MemoryBackend);
    const { context } = await chord.setContext('c', { v: 0 });
    expect(context.insertedAt).toBe(5_000);
    for (let v = 1; v <= 101; v++) await chord.setContext('c', { v });
    expect((await chord.syncContext('c', 1)).kind).toBe('full'); // 101 behind
    expect((await chord.syncContext('c', 2)).kind).toBe('delta'); // exactly 100 behind
    clock.advance(DEFAULT_DELTA_TTL + 1);
    const report = await chord.cleanup();
    expect(report.contextsDeleted).toBe(0);
    expect(report.deltasDeleted.expired).toBe(102);
  });

  test('bad config throws ValidationError naming the option', () => {
    const cases: Array<[unknown, string]> = [
      [{ deltaThreshold: -1 }, 'config.deltaThreshold'],
      [{ deltaThreshold: 2.5 }, 'config.deltaThreshold'],
      [{ deltaTtl: '1d' }, 'config.deltaTtl'],
      [{ contextTtl: -5 }, 'config.contextTtl'],
      [{ maxWriteAttempts: 0 }, 'config.maxWriteAttempts'],
      [{ clock: 'now' }, 'config.clock'],
      [{ exportContext: 1 }, 'config.exportContext'],
      [{ contextProvider: {} }, 'config.contextProvider'],
      [{ backend: {} }, 'config.backend'],
      [{ backend: null }, 'config.backend'],
      [{ deltaTTL: 5 }, 'config.deltaTTL'],
      [{ deltaThreshold: null }, 'config.deltaThreshold'],
      [[], 'config'],
    ];
    for (const [config, argument] of cases) {
      let caught: unknown;
      try {
        new Chord(config as never);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(config)).toBeInstanceOf(ValidationError);
      expect((caught as ValidationError).argument).toBe(argument);
    }
  });
});

describe('exports', () => {
  test('chord-sync exports the engine; chord-sync/testing exports the engine suite', () => {
    for (const name of ['Chord', 'DEFAULT_DELTA_THRESHOLD', 'DEFAULT_DELTA_TTL', 'DEFAULT_CONTEXT_TTL', 'DEFAULT_MAX_WRITE_ATTEMPTS', 'DEFAULT_CLEANUP_BATCH_SIZE']) {
      expect(pkg, name).toHaveProperty(name);
    }
    for (const name of ['runEngineConformance', 'registerEngineWriteTests', 'registerEngineSyncTests', 'registerEngineRestoreTests', 'registerEngineCleanupTests', 'registerEngineSchedulerTests', 'registerEnginePropertyTests']) {
      expect(typeof (testing as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
