export {
  Chord,
  DEFAULT_CONTEXT_TTL,
  DEFAULT_DELTA_THRESHOLD,
  DEFAULT_DELTA_TTL,
  DEFAULT_MAX_WRITE_ATTEMPTS,
} from './chord.js';
export type {
  ChordConfig,
  ContextChange,
  ContextChanges,
  ProvidedContext,
  SyncResult,
  WriteOptions,
  WriteResult,
} from './chord.js';
export { DEFAULT_CLEANUP_BATCH_SIZE } from './cleanup.js';
export type { CleanupOptions, CleanupReport, CleanupStep } from './cleanup.js';
export { MAX_CLEANUP_INTERVAL_MS, DEFAULT_STOP_WAIT_MS } from './cleanup-schedule.js';
export type { CleanupSchedule, StartCleanupOptions } from './cleanup-schedule.js';
