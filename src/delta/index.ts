export {
  calculateDelta,
  mergeDeltas,
  applyDelta,
  isEmptyDelta,
  formatDelta,
  toWireDelta,
  MAX_DELTA_DEPTH,
} from './delta.js';
// For the engine only (not exported from the package): the same functions without validating
// what the engine made or stored itself.
export { calculateTrustedDelta, applyTrustedDelta, mergeStoredDeltas, mergeTrustedDeltas, trustedWireDelta } from './delta.js';
export type { ChangeAction, FormattedChange, FormattedDelta } from './delta.js';
export { unset, applyChanges } from './changes.js';
export type { Unset } from './changes.js';
