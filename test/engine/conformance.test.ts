import { describe, test } from 'vitest';
import { runEngineConformance } from '../../src/testing/index.js';
import { backendTargets } from '../support/targets.js';

// Random histories per property test when CHORD_PROPERTY_RUNS is not set (it overrides them all):
// many on the in-memory reference, fewer where every call is a database round trip, fewest on
// PGlite, which runs the database in this process (~20 ms a history on a busy 2-core machine).
const DEFAULT_RUNS: Record<string, number> = { memory: 5000, 'prisma/pglite': 500 };
const DATABASE_RUNS = 1000;

for (const { name, harness } of backendTargets()) {
  const fromEnv = process.env.CHORD_PROPERTY_RUNS;
  const propertyRuns = fromEnv !== undefined && fromEnv !== '' ? undefined : (DEFAULT_RUNS[name] ?? DATABASE_RUNS);
  describe(`engine on ${name}`, () => {
    runEngineConformance({ describe, test }, harness, { propertyRuns });
  });
}
