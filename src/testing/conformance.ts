import type { ChordBackend } from '../backend.js';
import { registerAtomicRestoreTests } from './atomic-restore.js';
import { registerAtomicWriteTests } from './atomic-write.js';
import { registerBulkCleanupTests } from './bulk-cleanup.js';
import { registerContextTests } from './contexts.js';
import { registerEpochTests } from './epochs.js';
import { registerDeltaTests } from './deltas.js';
import type { BackendHarness, SuiteApi } from './harness.js';
import { registerListingTests } from './listing.js';
import { registerPruningTests } from './pruning.js';
import { registerSyncReadTests } from './sync-read.js';
import { registerValidationTests } from './validation.js';
import { registerValueTests } from './values.js';

/** Which optional capabilities {@link runBackendConformance} tests. */
export interface BackendConformanceOptions {
  /** Test `writeVersion` (the `AtomicVersionWriter` capability). Default: `true`. */
  readonly atomicWrites?: boolean;
  /** Test `deleteIdleContexts` and friends (the `BulkCleanup` capability). Default: `true`. */
  readonly bulkCleanup?: boolean;
  /** Test `readForSync` (the `SyncReader` capability). Default: `true`. */
  readonly syncReads?: boolean;
  /** Test `restoreVersion` (the `AtomicRestorer` capability). Default: `true`. */
  readonly atomicRestore?: boolean;
  /** Test that contexts carry an `epoch` per life of their id. Default: `true`. */
  readonly epochs?: boolean;
}

/**
 * Registers the whole backend conformance suite under one `describe`: every behaviour the storage
 * contract (`ChordBackend`) requires, plus the optional capabilities unless switched off. Each
 * test gets a new, empty backend from `harness` with a manual clock and disposes of it afterwards.
 *
 * ```ts
 * import { describe, test } from 'vitest';
 * import { runBackendConformance } from 'chord-sync/testing';
 *
 * runBackendConformance({ describe, test }, { makeBackend: ({ clock }) => new MyBackend({ clock }) });
 * ```
 */
export function runBackendConformance<B extends ChordBackend>(
  api: SuiteApi,
  harness: BackendHarness<B>,
  options: BackendConformanceOptions = {},
): void {
  const { atomicWrites = true, bulkCleanup = true, syncReads = true, atomicRestore = true, epochs = true } = options;
  // The register functions only make and dispose backends, so any B is a ChordBackend to them.
  const h: BackendHarness = harness;
  api.describe('chord-sync backend conformance', () => {
    registerContextTests(api, h);
    registerDeltaTests(api, h);
    registerPruningTests(api, h);
    registerListingTests(api, h);
    registerValueTests(api, h);
    registerValidationTests(api, h);
    if (atomicWrites) registerAtomicWriteTests(api, h);
    if (bulkCleanup) registerBulkCleanupTests(api, h);
    if (syncReads) registerSyncReadTests(api, h, { epochs });
    if (atomicRestore) registerAtomicRestoreTests(api, h);
    if (epochs) registerEpochTests(api, h, { atomicWrites, atomicRestore, bulkCleanup });
  });
}
