// Stored data chord-sync did not write — a delta that is a JSON string (`"{}"` included), an array
// or a number, a context that is not an object — is CorruptDataError naming the context and the
// version of the bad row: never a SyntaxError, never silently taken as an empty delta. (To the
// storage contract a delta is any JSON object; whether an object is a well-formed delta the
// engine judges when it merges.) Every Prisma target: the rows are corrupted by hand.
import { describe, expect, test } from 'vitest';
import type { PrismaBackend } from '../../src/backends/prisma/index.js';
import { Chord } from '../../src/engine/index.js';
import { CorruptDataError, ValidationError } from '../../src/errors.js';
import { type PrismaTarget, prismaTargets } from '../support/targets.js';
import { withTarget } from '../support/named.js';

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

function expectCorrupt(error: unknown, contextId: string, version: number, what: 'context' | 'delta'): void {
  expect(error, `a CorruptDataError for ${what} ${contextId}@${version}`).toBeInstanceOf(CorruptDataError);
  expect(error).not.toBeInstanceOf(ValidationError);
  expect(error).not.toBeInstanceOf(SyntaxError);
  expect(error).toMatchObject({ code: 'corrupt_data', contextId, version, what });
  expect((error as Error).message).toContain(JSON.stringify(contextId));
  expect((error as Error).message).toContain(`version ${version}`);
}

/** A context `id` at version 3 (deltas 1..3), written by chord-sync. */
async function history(backend: PrismaBackend, id: string): Promise<void> {
  const chord = new Chord({ backend });
  await chord.setContext(id, { a: 1 });
  await chord.updateContext(id, { b: 2 });
  await chord.updateContext(id, { c: 3 });
}

async function withBackend(target: PrismaTarget, body: (backend: PrismaBackend, table: (name: string) => string) => Promise<void>): Promise<void> {
  const backend = await target.harness.makeBackend({ clock: Date.now });
  try {
    const schema = target.inspector.schemaOf(backend);
    await body(backend, (name) => `"${schema}".${name}`);
  } finally {
    await target.harness.dispose?.(backend);
  }
}

const BAD_DELTAS: Array<[string, string]> = [
  ['the JSON string "{}"', `'"{}"'::jsonb`],
  ['a JSON string that is not JSON inside', `'"not json"'::jsonb`],
  ['an array', `'[1, 2]'::jsonb`],
  ['a number', `'7'::jsonb`],
];

describe.each(prismaTargets().map((t) => [t.label, t] as const))('%s: corrupt rows', (_, target) => {
  test.each(BAD_DELTAS)(withTarget('a delta stored as %s: getDeltas, listDeltas and readForSync throw CorruptDataError naming the context and version', target.label), async (_kind, value) => {
    await withBackend(target, async (backend, table) => {
      await history(backend, 'doc');
      await target.inspector.query(`UPDATE ${table('chord_deltas')} SET delta = ${value} WHERE context_id = 'doc' AND version = 2`);
      expectCorrupt(await rejection(() => backend.getDeltas('doc', 0)), 'doc', 2, 'delta');
      expectCorrupt(await rejection(() => backend.listDeltas({ contextId: 'doc' })), 'doc', 2, 'delta');
      expectCorrupt(await rejection(() => backend.readForSync('doc', 1, 100)), 'doc', 2, 'delta');
      // The sound rows still read: the context, and deltas past the bad one.
      expect((await backend.getContext('doc'))?.context).toEqual({ a: 1, b: 2, c: 3 });
      expect((await backend.getDeltas('doc', 2)).map((d) => d.version)).toEqual([3]);
    });
  });

  test.each([
    ['the JSON string "{}"', `'"{}"'::jsonb`, true],
    ['an array', `'[]'::jsonb`, true],
    // readForSync's row has SQL NULL for "context not read", which a jsonb null reads the same as.
    ['JSON null', `'null'::jsonb`, false],
  ])(withTarget('a context stored as %s: getContext, listContexts and a full sync throw CorruptDataError naming it', target.label), async (_kind, value, syncReadSeesIt) => {
    await withBackend(target, async (backend, table) => {
      await history(backend, 'ctx');
      await target.inspector.query(`UPDATE ${table('chord_contexts')} SET context = ${value} WHERE context_id = 'ctx'`);
      expectCorrupt(await rejection(() => backend.getContext('ctx')), 'ctx', 3, 'context');
      expectCorrupt(await rejection(() => backend.listContexts({ contextId: 'ctx' })), 'ctx', 3, 'context');
      if (syncReadSeesIt) {
        // Too far behind for the deltas (maxBehind 1): the answer needs the context.
        expectCorrupt(await rejection(() => backend.readForSync('ctx', 0, 1)), 'ctx', 3, 'context');
        expectCorrupt(await rejection(() => new Chord({ backend }).syncContext('ctx', null)), 'ctx', 3, 'context');
      }
    });
  });
});
