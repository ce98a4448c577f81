// The backend conformance suite, exported as `chord-sync/testing`. See README "Your own backend".
export type { SuiteApi, BackendHarness, ManualClock } from './harness.js';
export { manualClock } from './harness.js';
export { runBackendConformance } from './conformance.js';
export type { BackendConformanceOptions } from './conformance.js';
export { registerContextTests } from './contexts.js';
export { registerDeltaTests } from './deltas.js';
export { registerPruningTests } from './pruning.js';
export { registerListingTests } from './listing.js';
export { registerValueTests } from './values.js';
export { registerValidationTests } from './validation.js';
export { registerAtomicWriteTests } from './atomic-write.js';
export { registerBulkCleanupTests } from './bulk-cleanup.js';
