/**
 * The naming rule of every suite that runs once per target (a backend and its connection form):
 * each test's own name ends in ` [target]`. vitest's default reporter prints a slow or failed test
 * by its own name only, without the describe around it, so "a context over the size limit is
 * refused" three times would not say which backend was slow or failed.
 *
 * Use the pair this returns wherever tests are registered per target: pass it to the conformance
 * suites (`runEngineConformance(forTarget(label), harness)`) or call its `test` in a loop over
 * targets.
 */
import { describe, test, type TestFunction } from 'vitest';
import type { SuiteApi } from '../../src/testing/harness.js';

/** What a per-target test file registers with; `test` adds ` [target]` to each name. */
export interface TargetSuite extends SuiteApi {
  readonly target: string;
  test: TargetTest;
}

export interface TargetTest {
  (name: string, fn: TestFunction, timeout?: number): void;
  skipIf(condition: unknown): (name: string, fn: TestFunction, timeout?: number) => void;
}

/** ` [target]` added to `name`. */
export function withTarget(name: string, target: string): string {
  return `${name} [${target}]`;
}

/** vitest's `describe` and a `test` whose names end in ` [target]`. */
export function forTarget(target: string): TargetSuite {
  const named = ((name: string, fn: TestFunction, timeout?: number) => test(withTarget(name, target), fn, timeout)) as TargetTest;
  named.skipIf = (condition) => (name, fn, timeout) => test.skipIf(condition)(withTarget(name, target), fn, timeout);
  return { target, describe, test: named };
}
