// The checks of what `Chord` is given: its config (resolved to defaults here, once) and the
// per-call options of writes and syncs. Each throws `ValidationError` naming the bad argument.
import { CHORD_BACKEND_METHODS, hasWriteIdRecorder, validateWriteId } from '../backend.js';
import type { ChordBackend, WriteId } from '../backend.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { ValidationError } from '../errors.js';
import { type JsonLimits, MAX_EPOCH_LENGTH, describe, resolveLimits, validateCount, validateOptions, validateVersion } from '../validation.js';
import { DEFAULT_WATCH_POLL_MS, validateWatchPollMs } from '../live/index.js';
import { validateTtl } from './cleanup.js';
import { DEFAULT_SYNC_CACHE_BYTES } from './sync-share.js';
import { DEFAULT_CONTEXT_TTL, DEFAULT_DELTA_THRESHOLD, DEFAULT_DELTA_TTL, DEFAULT_MAX_WRITE_ATTEMPTS } from './chord-types.js';
import type { ChordConfig } from './chord-types.js';

/** A {@link ChordConfig} checked, with every default filled in. */
export interface ResolvedChordConfig {
  readonly backend: ChordBackend;
  readonly clock: () => number;
  readonly deltaThreshold: number;
  readonly deltaTtl: number | null;
  readonly contextTtl: number | null;
  readonly maxWriteAttempts: number;
  readonly limits: Required<JsonLimits>;
  readonly syncCacheBytes: number;
  readonly watchPollMs: number;
  readonly exportContext: ChordConfig['exportContext'];
  readonly contextProvider: ChordConfig['contextProvider'];
}

const CONFIG_KEYS = new Set([
  'backend',
  'clock',
  'deltaThreshold',
  'deltaTtl',
  'contextTtl',
  'exportContext',
  'contextProvider',
  'maxWriteAttempts',
  'limits',
  'syncCacheBytes',
  'watchPollMs',
]);
const WRITE_OPTION_KEYS = new Set(['expectedVersion', 'epoch', 'writeId']);
const SYNC_OPTION_KEYS = new Set(['epoch']);


/** Checks `config` (in a fixed order, so the first mistake is the one reported) and fills in the defaults. */
export function resolveChordConfig(config: ChordConfig): ResolvedChordConfig {
  validateOptions(config, 'config', 'Chord', CONFIG_KEYS);
  validateOptionalFunction(config.clock, 'config.clock');
  validateOptionalFunction(config.exportContext, 'config.exportContext');
  validateOptionalFunction(config.contextProvider, 'config.contextProvider');
  const deltaThreshold = config.deltaThreshold === undefined ? DEFAULT_DELTA_THRESHOLD : config.deltaThreshold;
  validateCount(deltaThreshold, 'config.deltaThreshold');
  const deltaTtl = config.deltaTtl === undefined ? DEFAULT_DELTA_TTL : config.deltaTtl;
  validateTtl(deltaTtl, 'config.deltaTtl');
  const contextTtl = config.contextTtl === undefined ? DEFAULT_CONTEXT_TTL : config.contextTtl;
  validateTtl(contextTtl, 'config.contextTtl');
  const maxWriteAttempts = config.maxWriteAttempts === undefined ? DEFAULT_MAX_WRITE_ATTEMPTS : config.maxWriteAttempts;
  validateCount(maxWriteAttempts, 'config.maxWriteAttempts');
  if (maxWriteAttempts < 1) throw new ValidationError('config.maxWriteAttempts', 'must be at least 1');
  const limits = resolveLimits(config.limits);
  const syncCacheBytes = config.syncCacheBytes === undefined ? DEFAULT_SYNC_CACHE_BYTES : config.syncCacheBytes;
  validateCount(syncCacheBytes, 'config.syncCacheBytes');
  const watchPollMs = config.watchPollMs === undefined ? DEFAULT_WATCH_POLL_MS : config.watchPollMs;
  validateWatchPollMs(watchPollMs, 'config.watchPollMs');

  const clock = config.clock ?? Date.now;
  // `=== undefined`, not `??`: a null backend is a mistake to report, not a request for the default.
  const backend = config.backend === undefined ? new MemoryBackend({ clock }) : config.backend;
  validateBackend(backend);
  return {
    backend,
    clock,
    deltaThreshold,
    deltaTtl,
    contextTtl,
    maxWriteAttempts,
    limits,
    syncCacheBytes,
    watchPollMs,
    exportContext: config.exportContext,
    contextProvider: config.contextProvider,
  };
}

/** The checked per-call options of a write. */
export interface WriteControl {
  readonly expectedVersion: number | undefined;
  readonly epoch: string | undefined;
  readonly writeId: WriteId | undefined;
}

const NO_WRITE_CONTROL: WriteControl = { expectedVersion: undefined, epoch: undefined, writeId: undefined };

/** A write's options, checked (`writeId` only on a backend that records write ids). */
export function validateWriteOptions(options: unknown, backend: ChordBackend): WriteControl {
  if (options === undefined) return NO_WRITE_CONTROL;
  const { expectedVersion, epoch, writeId } = validateOptions(options, 'options', 'write', WRITE_OPTION_KEYS);
  if (expectedVersion !== undefined) validateVersion(expectedVersion, 'options.expectedVersion');
  if (epoch !== undefined) validateEpoch(epoch);
  if (writeId !== undefined) {
    validateWriteId(writeId, 'options.writeId');
    if (!hasWriteIdRecorder(backend)) {
      throw new ValidationError('options.writeId', 'needs a backend that records write ids (the WriteIdRecorder capability); this one does not');
    }
  }
  return { expectedVersion, epoch, writeId } as WriteControl;
}

/** The `epoch` of a sync's options, checked; `undefined` when none is given. */
export function validateSyncOptions(options: unknown): string | undefined {
  if (options === undefined) return undefined;
  const { epoch } = validateOptions(options, 'options', 'sync', SYNC_OPTION_KEYS);
  if (epoch === undefined) return undefined;
  validateEpoch(epoch);
  return epoch;
}

function validateOptionalFunction(value: unknown, argument: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new ValidationError(argument, `must be a function, got ${describe(value)}`);
  }
}

function validateBackend(value: unknown): asserts value is ChordBackend {
  if (value === null || typeof value !== 'object') {
    throw new ValidationError('config.backend', `must be a ChordBackend object, got ${describe(value)}`);
  }
  for (const method of CHORD_BACKEND_METHODS) {
    if (typeof (value as Record<string, unknown>)[method] !== 'function') {
      throw new ValidationError('config.backend', `has no method ${method}()`);
    }
  }
}

function validateEpoch(epoch: unknown): asserts epoch is string {
  if (typeof epoch !== 'string' || epoch === '' || epoch.length > MAX_EPOCH_LENGTH) {
    throw new ValidationError('options.epoch', `must be a non-empty string of at most ${MAX_EPOCH_LENGTH} characters, got ${describe(epoch)}`);
  }
}
