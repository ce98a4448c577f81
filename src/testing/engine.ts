import type { BackendHarness, SuiteApi } from './harness.js';
import { registerEngineCleanupTests } from './engine-cleanup.js';
import { registerEngineLifeTests } from './engine-lives.js';
import { registerEnginePropertyTests } from './engine-properties.js';
import { registerEngineRestoreTests } from './engine-restore.js';
import { registerEngineSchedulerTests } from './engine-scheduler.js';
import type { EngineSuiteOptions } from './engine-support.js';
import { registerEngineSyncTests } from './engine-sync.js';
import { registerEngineWriteTests } from './engine-writes.js';

/**
 * Registers the whole engine conformance suite: `Chord` on backends made by `harness`, one fresh
 * backend per test. Wire it into any runner with `{ describe, test }`:
 *
 * ```ts
 * import { describe, test } from 'vitest';
 * import { runEngineConformance } from 'chord-sync/testing';
 * runEngineConformance({ describe, test }, { makeBackend: ({ clock }) => new MyBackend({ clock }) });
 * ```
 */
export function runEngineConformance(api: SuiteApi, harness: BackendHarness, options: EngineSuiteOptions = {}): void {
  api.describe('chord engine conformance', () => {
    registerEngineWriteTests(api, harness, options);
    registerEngineSyncTests(api, harness, options);
    registerEngineLifeTests(api, harness, options);
    registerEngineRestoreTests(api, harness, options);
    registerEngineCleanupTests(api, harness, options);
    registerEngineSchedulerTests(api, harness, options);
    registerEnginePropertyTests(api, harness, options);
  });
}
