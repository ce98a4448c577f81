import { describe, test } from 'vitest';
import { runEngineConformance } from '../../src/testing/index.js';
import { backendTargets, databaseChoice, skipNote } from '../support/targets.js';

// Random histories per property test, unless CHORD_PROPERTY_RUNS is set (it overrides them all).
// With a PostgreSQL server (CI sets DATABASE_URL): thousands on every backend, more on the
// in-memory reference, where a history costs no round trips. On a fresh machine (PGlite only,
// where a history takes ~20 ms on a busy 2-core machine, and two PGlite targets run) fewer on
// the databases, so `npx vitest run` stays quick there; CI keeps the thousands.
const MEMORY_RUNS = 5000;
const DATABASE_RUNS = { server: 2000, fresh: 300 } as const;

const fromEnv = process.env.CHORD_PROPERTY_RUNS;
const onServer = databaseChoice().kind !== 'pglite';
const targets = backendTargets({ withSkipped: true });
const runsOf = (name: string): number | undefined =>
  fromEnv !== undefined && fromEnv !== '' ? undefined : name === 'memory' ? MEMORY_RUNS : onServer ? DATABASE_RUNS.server : DATABASE_RUNS.fresh;
console.info(
  `engine property tests: random histories per backend: ${targets
    .filter((t) => t.skip === undefined)
    .map((t) => `${t.name} ${runsOf(t.name) ?? `${fromEnv} (CHORD_PROPERTY_RUNS)`}`)
    .join(', ')}${onServer ? '' : ' (fewer on databases without a PostgreSQL server; CI runs thousands)'}`,
);

for (const { name, harness, skip } of targets) {
  describe.skipIf(skip !== undefined)(`engine on ${name}${skipNote(skip)}`, () => {
    runEngineConformance({ describe, test }, harness, { propertyRuns: runsOf(name) });
  });
}
