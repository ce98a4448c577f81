import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { MemoryBackend } from '../../../src/backends/memory/memory-backend.js';
import { compareCodePoints } from '../../../src/backends/memory/code-point-order.js';
import { ValidationError, VersionConflictError } from '../../../src/errors.js';
import { runBackendConformance } from '../../../src/testing/index.js';
import { forTarget } from '../../support/named.js';

runBackendConformance(forTarget('memory'), { makeBackend: ({ clock }) => new MemoryBackend({ clock }) });

describe('MemoryBackend specifics', () => {
  test('compareCodePoints orders strings as their UTF-8 bytes do', () => {
    // Weighted toward the characters UTF-16 order gets wrong (U+E000–U+FFFF against U+10000 and up).
    const unit = fc.oneof(fc.constantFrom('a', 'B', 'é', '\uE000', '\uFF5E', '\uFFFF', '😀', '𐀀'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }));
    const text = fc.string({ unit, maxLength: 6 });
    fc.assert(
      fc.property(text, text, (a, b) => {
        const expected = Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
        expect(Math.sign(compareCodePoints(a, b))).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  test('listing stays sorted after many inserts and deletes in random order', async () => {
    // A small alphabet, so ids collide and share prefixes, with the characters UTF-16 order gets wrong.
    const id = fc.string({ unit: fc.constantFrom('a', 'B', 'b', 'é', '\uE000', '\uFFFF', '😀', '𐀀'), minLength: 1, maxLength: 3 });
    const ops = fc.array(fc.tuple(fc.boolean(), id, fc.nat(5)), { maxLength: 60 });
    await fc.assert(
      fc.asyncProperty(ops, async (steps) => {
        const backend = new MemoryBackend({ clock: () => 1 });
        const model = new Map<string, Set<number>>();
        for (const [remove, id, version] of steps) {
          if (remove) {
            await backend.deleteDeltasForContext(id);
            model.delete(id);
          } else {
            await backend.setDelta(id, {}, version);
            model.set(id, (model.get(id) ?? new Set()).add(version));
          }
        }
        const utf8 = (s: string) => Buffer.from(s, 'utf8');
        const expected = [...model.entries()]
          .sort(([a], [b]) => Buffer.compare(utf8(a), utf8(b)))
          .flatMap(([id, versions]) => [...versions].sort((x, y) => x - y).map((v) => `${id}@${v}`));
        const listed = (await backend.listDeltas()).map((d) => `${d.contextId}@${d.version}`);
        expect(listed).toEqual(expected);
        const reversed = (await backend.listDeltas({ order: 'desc' })).map((d) => `${d.contextId}@${d.version}`);
        expect(reversed).toEqual(expected.toReversed());
      }),
      { numRuns: 200 },
    );
  });

  test('the clock defaults to Date.now', async () => {
    const before = Date.now();
    const { insertedAt } = await new MemoryBackend().setContext('a', {}, 1);
    expect(insertedAt).toBeGreaterThanOrEqual(before);
    expect(insertedAt).toBeLessThanOrEqual(Date.now());
  });

  test('a clock that returns a non-integer is refused when stamping, and nothing is written', async () => {
    const backend = new MemoryBackend({ clock: () => 1.5 });
    await expect(backend.setContext('a', {}, 1)).rejects.toMatchObject({ argument: 'clock' });
    await expect(backend.writeVersion('a', {}, {}, 0)).rejects.toMatchObject({ argument: 'clock' });
    expect(await backend.listContexts()).toEqual([]);
    expect(await backend.listDeltas()).toEqual([]);
  });

  test('the constructor refuses a clock that is not a function and bad limits', () => {
    expect(() => new MemoryBackend({ clock: 5 as unknown as () => number })).toThrow(ValidationError);
    expect(() => new MemoryBackend({ limits: { maxDepth: 0 } })).toThrow(/limits\.maxDepth/);
    expect(() => new MemoryBackend({ limits: { maxBytes: 1.5 } })).toThrow(/limits\.maxBytes/);
  });

  test('limits bound the depth and size of stored values', async () => {
    const backend = new MemoryBackend({ limits: { maxDepth: 3, maxBytes: 20 } });
    await backend.setContext('ok', { a: { b: 1 } }, 1);
    await expect(backend.setContext('deep', { a: { b: { c: {} } } }, 1)).rejects.toMatchObject({ argument: 'context.a.b.c' });
    // A delta holds old and new values and nests deeper than its contexts: its bounds are deltaLimits (×3 size, ×2+1 depth).
    await expect(backend.setDelta('big', { text: 'x'.repeat(60) }, 1)).rejects.toMatchObject({ argument: 'delta' });
    expect((await backend.listContexts()).map((c) => c.contextId)).toEqual(['ok']);
    expect(await backend.listDeltas()).toEqual([]);
  });

  test('the default depth limit is 100 levels', async () => {
    const nest = (levels: number) => {
      let value: Record<string, unknown> = {};
      for (let i = 1; i < levels; i++) value = { n: value };
      return value;
    };
    const backend = new MemoryBackend();
    await backend.setContext('a', nest(100) as never, 1);
    await expect(backend.setContext('a', nest(101) as never, 2)).rejects.toBeInstanceOf(ValidationError);
  });

  test('a conflicting writeVersion names the stored version', async () => {
    const backend = new MemoryBackend();
    await backend.setContext('a', {}, 3);
    const error = await backend.writeVersion('a', {}, {}, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VersionConflictError);
    expect(error).toMatchObject({ code: 'conflict', expectedVersion: 2, actualVersion: 3 });
  });
});
