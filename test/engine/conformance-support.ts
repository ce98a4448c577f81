// The engine conformance suite, one test file per target so vitest's workers run the targets side
// by side (each file is a process of its own; one file for all would run them one after another).
import { describe } from 'vitest';
import { runEngineConformance } from '../../src/testing/index.js';
import { forTarget } from '../support/named.js';
import { type BackendTarget, type PrismaTarget, memoryTarget, prismaTargets, skipNote } from '../support/targets.js';

/**
 * Random histories per property test (the suite runs this many, half and a quarter in its three
 * property tests), unless CHORD_PROPERTY_RUNS is set (it overrides them all). The memory reference
 * runs the most, where a history costs no round trips; each database target runs enough to meet
 * its SQL with every operation kind, key and pruning setting many times over, and few enough that
 * one property test stays well under a minute on a loaded 2-core machine. A server does not raise
 * them: the engine's logic is the same on every target, and memory runs the thousands.
 */
export const ENGINE_PROPERTY_RUNS: Readonly<Record<'memory' | PrismaTarget['database'], number>> = { memory: 1000, postgres: 100, pglite: 50 };

/** The target named `name` in this run: memory, a server target (skipped without a server) or a PGlite one. */
function findTarget(name: string): (BackendTarget & { readonly skip?: string }) | undefined {
  if (name === 'memory') return memoryTarget() as BackendTarget;
  const database = name.startsWith('prisma/pglite') ? 'pglite' : 'postgres';
  return prismaTargets({ withSkipped: true, database }).find((t) => t.name === name);
}

/** Registers the engine suite on the target `name`; `absent` says why this run has no such target. */
export function engineConformanceOn(name: string, absent: string): void {
  const target = findTarget(name);
  if (target === undefined) {
    describe.skip(`engine on ${name} (skipped: ${absent})`, () => {
      runEngineConformance(forTarget(name), { makeBackend: () => Promise.reject(new Error(absent)) }, { propertyRuns: 1 });
    });
    return;
  }
  const fromEnv = process.env.CHORD_PROPERTY_RUNS;
  const runs = fromEnv !== undefined && fromEnv !== '' ? undefined : ENGINE_PROPERTY_RUNS['database' in target ? (target as PrismaTarget).database : 'memory'];
  if (target.skip === undefined) console.info(`engine property tests on ${target.label}: ${runs ?? `${fromEnv} (CHORD_PROPERTY_RUNS)`} random histories`);
  describe.skipIf(target.skip !== undefined)(`engine on ${target.label}${skipNote(target.skip)}`, () => {
    runEngineConformance(forTarget(target.label), target.harness, { propertyRuns: runs });
  });
}
