export type { Json, JsonObject, Delta, ContextRecord, DeltaRecord } from './types.js';
export {
  ChordError,
  NotFoundError,
  VersionConflictError,
  ValidationError,
  BackendUnavailableError,
  PoolExhaustedError,
  ConfigurationError,
  TimeoutError,
  StatementError,
  CorruptDataError,
  CallbackError,
} from './errors.js';
export type { ChordErrorCode, ConfigurationProblem } from './errors.js';
export type {
  ChordBackend,
  ListOptions,
  DeltaCount,
  AtomicVersionWriter,
  VersionWriteResult,
  SyncReader,
  SyncRead,
  SyncKnown,
  ImmediateSyncReader,
  AtomicRestorer,
  BulkCleanup,
  IdleContextsDeleted,
  BackendClockConfig,
  ChangeNotice,
  ChangeListener,
  ChangeSubscription,
  ChangeNotifier,
  ExclusiveCleanup,
  WriteId,
  WriteReceipt,
  WriteIdRecorder,
  OnceWriteResult,
} from './backend.js';
export {
  CHORD_BACKEND_METHODS,
  hasAtomicVersionWriter,
  hasBulkCleanup,
  hasSyncReader,
  hasImmediateSyncReader,
  hasAtomicRestorer,
  hasChangeNotifier,
  hasExclusiveCleanup,
  hasWriteIdRecorder,
  validateWriteId,
  validateClientId,
} from './backend.js';
export { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, MAX_CONTEXT_ID_LENGTH } from './validation.js';
// The input checks every built-in backend applies, for your own backend: with them it refuses what
// the conformance suite expects refused, in the same words, and only storage is left to write.
export {
  validateContextId,
  validateVersion,
  validateTimestamp,
  validateCount,
  validateListOptions,
  validateJson,
  validateJsonObject,
  serializeJsonObject,
  resolveLimits,
  deltaLimits,
  readClock,
} from './validation.js';
export type { JsonLimits } from './validation.js';
export { MemoryBackend } from './backends/memory/memory-backend.js';
export type { MemoryBackendConfig } from './backends/memory/memory-backend.js';
export {
  calculateDelta,
  mergeDeltas,
  applyDelta,
  isEmptyDelta,
  formatDelta,
  toWireDelta,
  MAX_DELTA_DEPTH,
  unset,
  applyChanges,
} from './delta/index.js';
export { TRACED_METHODS, CHORD_CHANNELS, channelName } from './engine/telemetry.js';
export type { TracedMethod, ChordTraceContext } from './engine/telemetry.js';
export type { ChangeAction, FormattedChange, FormattedDelta, Unset } from './delta/index.js';
export {
  Chord,
  DEFAULT_CONTEXT_TTL,
  DEFAULT_DELTA_THRESHOLD,
  DEFAULT_DELTA_TTL,
  DEFAULT_MAX_WRITE_ATTEMPTS,
  DEFAULT_CLEANUP_BATCH_SIZE,
  MAX_CLEANUP_INTERVAL_MS,
  DEFAULT_STOP_WAIT_MS,
} from './engine/index.js';
export { DEFAULT_WATCH_POLL_MS } from './live/index.js';
export type { LiveUpdate, WatchOptions } from './live/index.js';
export type {
  ChordConfig,
  ContextChange,
  ContextChanges,
  ProvidedContext,
  SyncResult,
  WriteOptions,
  WriteResult,
  CleanupOptions,
  CleanupReport,
  CleanupStep,
  CleanupSchedule,
  StartCleanupOptions,
} from './engine/index.js';
