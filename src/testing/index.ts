// The backend conformance suite, exported as `chord-sync/testing`. See README "Your own backend".
export type { SuiteApi, BackendHarness, ManualClock } from './harness.js';
export { manualClock } from './harness.js';
