// Shared helpers of the reliability tests: where a PostgreSQL server comes from, fresh schemas on
// it, and the history check every fault test ends with.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import pg from 'pg';
import type { ChordBackend } from '../../src/backend.js';
import { applyDelta } from '../../src/delta/index.js';
import { migrate } from '../../src/backends/prisma/index.js';
import type { JsonObject } from '../../src/types.js';
import { canonical } from '../support/json.js';
import { serverUrl } from '../support/database.js';
import { type DisposablePostgres, findPostgresBinaries, startDisposablePostgres } from '../support/disposable-postgres.js';
import { databaseChoice } from '../support/targets.js';

/** The disposable server's binaries, or why there are none (the only reason a fault test skips). */
const postgresBinaries = findPostgresBinaries();
export const missingBinaries: string | undefined = 'missing' in postgresBinaries ? postgresBinaries.missing : undefined;

/** Starts a throwaway server; undefined when the binaries are missing. */
export async function startServer(): Promise<DisposablePostgres | undefined> {
  if ('missing' in postgresBinaries) return undefined;
  return startDisposablePostgres(postgresBinaries.bindir);
}

/** A PostgreSQL server URL for tests that need a real server but no faults: the run's database, else none. */
export function runServerUrl(): string | undefined {
  return serverUrl(databaseChoice());
}

export function newSchema(): string {
  return `chord_rel_${randomBytes(6).toString('hex')}`;
}

/** Creates and migrates a fresh schema on `url`; returns it and a function that drops it. */
export async function freshSchema(url: string): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = newSchema();
  await migrate({ connectionString: url }, { schema });
  return {
    schema,
    drop: async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}


/**
 * Checks that the history of `contextId` is whole: deltas 1..n with no gap, n equal to the
 * context's version, and replaying them from `{}` gives the context. Returns the replayed states
 * (index v: the context at version v).
 */
export async function expectWholeHistory(backend: ChordBackend, contextId: string): Promise<JsonObject[]> {
  const record = await backend.getContext(contextId);
  expect(record, `context ${contextId} exists`).not.toBeNull();
  const deltas = await backend.getDeltas(contextId, 0);
  expect(deltas.map((d) => d.version), `deltas of ${contextId} are 1..n`).toEqual(deltas.map((_, i) => i + 1));
  expect(deltas.at(-1)?.version, `highest delta of ${contextId} is the context's version`).toBe(record?.version);
  const states: JsonObject[] = [{}];
  let state: JsonObject = {};
  for (const d of deltas) {
    state = applyDelta(state, d.delta);
    states.push(state);
  }
  expect(canonical(state), `replaying the deltas of ${contextId} gives its context`).toBe(canonical(record?.context));
  return states;
}

/** Counts of outcomes by error code ('ok' for success). */
export type Tally = Record<string, number>;

export function count(tally: Tally, key: string): void {
  tally[key] = (tally[key] ?? 0) + 1;
}
