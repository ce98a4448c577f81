// One options check (validateOptions in src/validation.ts) for every config and options object:
// a typo is refused, never ignored, with one message shape naming the key and the known ones.
import { describe, expect, test } from 'vitest';
import { Chord, MemoryBackend, ValidationError } from '../src/index.js';
import { PrismaBackend } from '../src/backends/prisma/index.js';
import { RedisBackend } from '../src/backends/redis/index.js';
import { ChordClient, ChordConnection } from '../src/client/index.js';
import { createSyncHandler } from '../src/http/index.js';
import { validateOptions } from '../src/validation.js';

function refusal(call: () => unknown): ValidationError {
  let caught: unknown;
  try {
    const result = call();
    // An async method refuses in its promise; none of these calls reaches a backend.
    if (result instanceof Promise) throw new Error('returned a promise; use asyncRefusal');
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  return caught as ValidationError;
}

async function asyncRefusal(call: () => Promise<unknown>): Promise<ValidationError> {
  const caught = await call().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(caught).toBeInstanceOf(ValidationError);
  return caught as ValidationError;
}

describe('validateOptions', () => {
  test('returns the object when every key is known', () => {
    const value = { a: 1, b: undefined };
    expect(validateOptions(value, 'options', 'test', ['a', 'b'])).toBe(value);
  });

  test.each([
    ['null', null],
    ['a string', 'x'],
    ['a number', 3],
    ['an array', []],
    ['undefined', undefined],
  ])('refuses %s: "invalid <argument>: must be an object, got …"', (_name, value) => {
    const error = refusal(() => validateOptions(value, 'config', 'test', ['a']));
    expect(error.argument).toBe('config');
    expect(error.message).toMatch(/^invalid config: must be an object, got /);
  });

  test('the shape in the message can be said more precisely', () => {
    expect(refusal(() => validateOptions(null, 'config', 'test', ['a'], 'an object with a')).message).toMatch(/^invalid config: must be an object with a, got null$/);
  });

  test('an unknown key: "invalid <argument>.<key>: is not a <owner> option (known: …)"', () => {
    const error = refusal(() => validateOptions({ a: 1, clok: 2 }, 'config', 'Chord', ['a', 'clock']));
    expect(error.argument).toBe('config.clok');
    expect(error.message).toMatch(/^invalid config\.clok: is not a Chord option \(known: a, clock\)$/);
  });
});

// Each config refuses a typo of one of its own options with the same shape of message.
const typoCases: Array<[string, string, RegExp, () => unknown]> = [
  ['Chord', 'config.clok', /is not a Chord option \(known: backend, clock,/, () => new Chord({ clok: Date.now } as never)],
  ['MemoryBackend', 'config.clok', /is not a MemoryBackend option \(known: clock, limits, turnIntervalMs\)/, () => new MemoryBackend({ clok: Date.now } as never)],
  ['PrismaBackend', 'config.poolsize', /is not a PrismaBackend option \(known: .*poolSize/, () => new PrismaBackend({ connectionString: 'postgresql://127.0.0.1:1/x', poolsize: 3 } as never)],
  ['RedisBackend', 'config.keyprefix', /is not a RedisBackend option \(known: .*keyPrefix/, () => new RedisBackend({ url: 'redis://127.0.0.1:1', keyprefix: 'x' } as never)],
  ['createSyncHandler', 'options.basepath', /is not a sync handler option \(known: basePath,/, () => createSyncHandler(new Chord(), { basepath: '/x' } as never)],
  ['ChordClient', 'config.contextid', /is not a ChordClient option \(known: /, () => new ChordClient({ url: 'http://127.0.0.1:1', contextid: 'a' } as never)],
  ['ChordConnection', 'config.onerror', /is not a ChordConnection option \(known: /, () => new ChordConnection({ url: 'http://127.0.0.1:1', onerror: () => {} } as never)],
  ['chord.watch', 'options.epok', /is not a watch option \(known: version, epoch, signal\)/, () => new Chord().watch('a', { epok: 'e' } as never)],
  ['chord.startCleanup', 'options.batchsize', /is not a cleanup option \(known: /, () => new Chord().startCleanup({ intervalMs: 1000, batchsize: 3 } as never)],
];

const asyncTypoCases: Array<[string, string, RegExp, () => Promise<unknown>]> = [
  ['chord.setContext', 'options.expectedversion', /is not a write option \(known: expectedVersion, epoch, writeId\)/, () => new Chord().setContext('a', {}, { expectedversion: 0 } as never)],
  ['chord.syncContext', 'options.epok', /is not a sync option \(known: epoch\)/, () => new Chord().syncContext('a', 0, { epok: 'e' } as never)],
  ['chord.cleanup', 'options.batchsize', /is not a cleanup option \(known: /, () => new Chord().cleanup({ batchsize: 3 } as never)],
  ['MemoryBackend.listContexts', 'options.limt', /is not a list option \(known: /, () => new MemoryBackend().listContexts({ limt: 3 } as never)],
];

describe('every config and options object refuses a typo, in one message shape', () => {
  test.each(typoCases)('%s', (_name, argument, message, call) => {
    const error = refusal(call);
    expect(error.argument).toBe(argument);
    expect(error.message).toMatch(message);
  });

  test.each(asyncTypoCases)('%s', async (_name, argument, message, call) => {
    const error = await asyncRefusal(call);
    expect(error.argument).toBe(argument);
    expect(error.message).toMatch(message);
  });
});
