import { setImmediate as nextTurn } from 'node:timers/promises';
import { hasBulkCleanup } from '../backend.js';
import type { ChordBackend } from '../backend.js';
import { ValidationError } from '../errors.js';
import { describe, validateBatchSize, validateContextId, validateCount, validateOptions } from '../validation.js';

/** Default number of rows (or contexts) one cleanup batch may delete. */
export const DEFAULT_CLEANUP_BATCH_SIZE = 10_000;

/** The three steps of a cleanup run, in the order they run. */
export type CleanupStep = 'idleContexts' | 'expiredDeltas' | 'deltasBeyondThreshold';

/** Per-call options of `chord.cleanup()`; each one left out falls back to the engine's config. */
export interface CleanupOptions {
  /** Clean only this context (its own calls, no set-based batches). Default: every context. */
  readonly contextId?: string;
  /** Delete deltas older than this (clock units); `null`: skip the step. Default: the engine's `deltaTtl`. */
  readonly deltaTtl?: number | null;
  /** Delete contexts idle longer than this, with their deltas; `null`: skip. Default: the engine's `contextTtl`. */
  readonly contextTtl?: number | null;
  /** Keep only this many newest deltas per context. Default: the engine's `deltaThreshold`. */
  readonly deltaThreshold?: number;
  /** Rows (or contexts) one batch may delete, an integer ≥ 1. Default: {@link DEFAULT_CLEANUP_BATCH_SIZE}. */
  readonly batchSize?: number;
  /**
   * Called after every batch with the step and how many rows that step has deleted so far
   * (contexts for `'idleContexts'`, deltas otherwise). An error it throws aborts the run.
   */
  readonly onProgress?: (step: CleanupStep, deletedSoFar: number) => void;
}

/** What one cleanup run deleted. */
export interface CleanupReport {
  /** Contexts deleted because they were idle longer than `contextTtl`. */
  readonly contextsDeleted: number;
  readonly deltasDeleted: {
    /** Deltas deleted together with their idle contexts. */
    readonly withContexts: number;
    /** Deltas older than `deltaTtl`. */
    readonly expired: number;
    /** Deltas beyond the newest `deltaThreshold` of their context. */
    readonly beyondThreshold: number;
    /** The sum of the three. */
    readonly total: number;
  };
  /** Wall-clock duration of the run in milliseconds (measured with `performance.now`, not the engine clock). */
  readonly durationMs: number;
}

/** Cleanup options with the engine's defaults filled in and validated. */
export interface ResolvedCleanupOptions {
  readonly contextId: string | undefined;
  readonly deltaTtl: number | null;
  readonly contextTtl: number | null;
  readonly deltaThreshold: number;
  readonly batchSize: number;
  readonly onProgress: ((step: CleanupStep, deletedSoFar: number) => void) | undefined;
}

const CLEANUP_OPTION_KEYS = new Set([
  'contextId',
  'deltaTtl',
  'contextTtl',
  'deltaThreshold',
  'batchSize',
  'onProgress',
]);

/** Throws unless `value` is `null` or an integer ≥ 0. */
export function validateTtl(value: unknown, argument: string): asserts value is number | null {
  if (value !== null) validateCount(value, argument);
}


/**
 * Validates `options` (unknown keys refused, so a misspelt TTL can't silently do nothing) and
 * fills in `defaults`.
 */
export function resolveCleanupOptions(
  options: unknown,
  defaults: { deltaTtl: number | null; contextTtl: number | null; deltaThreshold: number },
  argument = 'options',
): ResolvedCleanupOptions {
  if (options === undefined) options = {};
  const o = validateOptions(options, argument, 'cleanup', CLEANUP_OPTION_KEYS);
  if (o.contextId !== undefined) validateContextId(o.contextId, `${argument}.contextId`);
  const deltaTtl = o.deltaTtl === undefined ? defaults.deltaTtl : o.deltaTtl;
  validateTtl(deltaTtl, `${argument}.deltaTtl`);
  const contextTtl = o.contextTtl === undefined ? defaults.contextTtl : o.contextTtl;
  validateTtl(contextTtl, `${argument}.contextTtl`);
  const deltaThreshold = o.deltaThreshold === undefined ? defaults.deltaThreshold : o.deltaThreshold;
  validateCount(deltaThreshold, `${argument}.deltaThreshold`);
  const batchSize = o.batchSize === undefined ? DEFAULT_CLEANUP_BATCH_SIZE : o.batchSize;
  validateBatchSize(batchSize, `${argument}.batchSize`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw new ValidationError(`${argument}.onProgress`, `must be a function, got ${describe(o.onProgress)}`);
  }
  return {
    contextId: o.contextId as string | undefined,
    deltaTtl,
    contextTtl,
    deltaThreshold,
    batchSize,
    onProgress: o.onProgress as ResolvedCleanupOptions['onProgress'],
  };
}

interface Tally {
  contexts: number;
  withContexts: number;
  expired: number;
  beyondThreshold: number;
}

/**
 * Runs the three cleanup steps on `backend` with `now` as the current time. Set-based batches
 * when the backend has {@link BulkCleanup} and no single context was asked for; otherwise the
 * seed's per-context calls, paged.
 */
export async function runCleanup(
  backend: ChordBackend,
  options: ResolvedCleanupOptions,
  now: number,
): Promise<CleanupReport> {
  const started = performance.now();
  const tally: Tally = { contexts: 0, withContexts: 0, expired: 0, beyondThreshold: 0 };
  // Cutoffs are computed once so that every batch of a run agrees on what "old" means.
  const contextCutoff = options.contextTtl === null ? null : now - options.contextTtl;
  const deltaCutoff = options.deltaTtl === null ? null : now - options.deltaTtl;
  const progress = options.onProgress ?? (() => {});

  if (options.contextId !== undefined) {
    await cleanOneContext(backend, options.contextId, contextCutoff, deltaCutoff, options.deltaThreshold, tally, progress);
  } else if (hasBulkCleanup(backend)) {
    const { batchSize } = options;
    if (contextCutoff !== null) {
      for (;;) {
        const batch = await backend.deleteIdleContexts(contextCutoff, batchSize);
        tally.contexts += batch.contexts;
        tally.withContexts += batch.deltas;
        progress('idleContexts', tally.contexts);
        if (batch.contexts < batchSize) break;
        // A backend that answers without I/O (in memory) would otherwise hold the event loop for
        // the whole run: a batch resolves as a microtask, and timers never get between two.
        await nextTurn();
      }
    }
    if (deltaCutoff !== null) {
      for (;;) {
        const deleted = await backend.deleteDeltasOlderThan(deltaCutoff, batchSize);
        tally.expired += deleted;
        progress('expiredDeltas', tally.expired);
        if (deleted < batchSize) break;
        await nextTurn();
      }
    }
    for (;;) {
      const deleted = await backend.deleteDeltasBeyondNewest(options.deltaThreshold, batchSize);
      tally.beyondThreshold += deleted;
      progress('deltasBeyondThreshold', tally.beyondThreshold);
      if (deleted < batchSize) break;
      await nextTurn();
    }
  } else {
    await cleanPagedWithSeedCalls(backend, contextCutoff, deltaCutoff, options.deltaThreshold, options.batchSize, tally, progress);
  }

  return {
    contextsDeleted: tally.contexts,
    deltasDeleted: {
      withContexts: tally.withContexts,
      expired: tally.expired,
      beyondThreshold: tally.beyondThreshold,
      total: tally.withContexts + tally.expired + tally.beyondThreshold,
    },
    durationMs: performance.now() - started,
  };
}

async function cleanOneContext(
  backend: ChordBackend,
  contextId: string,
  contextCutoff: number | null,
  deltaCutoff: number | null,
  deltaThreshold: number,
  tally: Tally,
  progress: (step: CleanupStep, deletedSoFar: number) => void,
): Promise<void> {
  if (contextCutoff !== null) {
    const record = await backend.getContext(contextId);
    if (record !== null && record.insertedAt < contextCutoff) {
      // Context first, then its deltas: a writer that recreates the context in between loses at
      // most its first delta, which sync then reports as a gap (full context), never a wrong delta.
      tally.contexts += await backend.deleteContext(contextId);
      tally.withContexts += await backend.deleteDeltasForContext(contextId);
    }
    progress('idleContexts', tally.contexts);
  }
  if (deltaCutoff !== null) {
    tally.expired += await backend.deleteDeltasByTime(contextId, deltaCutoff);
    progress('expiredDeltas', tally.expired);
  }
  tally.beyondThreshold += await backend.deleteDeltasExceedingThreshold(contextId, deltaThreshold);
  progress('deltasBeyondThreshold', tally.beyondThreshold);
}

/**
 * The fallback for a backend with only the seed's methods: one call per context, but the lists are
 * read a page at a time so the table never sits in memory. Pages are taken by offset; rows this run
 * deletes would shift later pages, so the offset only advances past the ids that are still listed.
 */
async function cleanPagedWithSeedCalls(
  backend: ChordBackend,
  contextCutoff: number | null,
  deltaCutoff: number | null,
  deltaThreshold: number,
  pageSize: number,
  tally: Tally,
  progress: (step: CleanupStep, deletedSoFar: number) => void,
): Promise<void> {
  if (contextCutoff !== null) {
    let offset = 0;
    for (;;) {
      const page = await backend.listContexts({ limit: pageSize, offset, order: 'asc' });
      let kept = 0;
      for (const record of page) {
        if (record.insertedAt < contextCutoff) {
          tally.contexts += await backend.deleteContext(record.contextId);
          tally.withContexts += await backend.deleteDeltasForContext(record.contextId);
        } else {
          kept++;
        }
      }
      progress('idleContexts', tally.contexts);
      if (page.length < pageSize) break;
      offset += kept;
    }
  }
  // Steps 2 and 3 share one pass: per context, expired deltas first, then the threshold, which is
  // what running the two steps one after the other would leave.
  let offset = 0;
  for (;;) {
    const page = await backend.listContextsWithDeltaCounts({ limit: pageSize, offset, order: 'asc' });
    let stillListed = 0;
    for (const { contextId, count } of page) {
      let remaining = count;
      if (deltaCutoff !== null) {
        const expired = await backend.deleteDeltasByTime(contextId, deltaCutoff);
        tally.expired += expired;
        remaining -= expired;
      }
      if (remaining > deltaThreshold) {
        const beyond = await backend.deleteDeltasExceedingThreshold(contextId, deltaThreshold);
        tally.beyondThreshold += beyond;
        remaining -= beyond;
      }
      if (remaining > 0) stillListed++;
    }
    if (deltaCutoff !== null) progress('expiredDeltas', tally.expired);
    progress('deltasBeyondThreshold', tally.beyondThreshold);
    if (page.length < pageSize) break;
    offset += stillListed;
  }
}
