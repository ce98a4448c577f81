export {
  calculateDelta,
  mergeDeltas,
  applyDelta,
  isEmptyDelta,
  formatDelta,
  MAX_DELTA_DEPTH,
} from './delta.js';
export type { ChangeAction, FormattedChange, FormattedDelta } from './delta.js';
export { unset, applyChanges } from './changes.js';
export type { Unset } from './changes.js';
