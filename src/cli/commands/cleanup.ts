import { parseArgs } from 'node:util';
import type { ChordBackend } from '../../backend.js';
import { Chord, DEFAULT_CONTEXT_TTL, DEFAULT_DELTA_THRESHOLD, DEFAULT_DELTA_TTL } from '../../engine/chord.js';
import { DEFAULT_CLEANUP_BATCH_SIZE } from '../../engine/cleanup.js';
import type { CleanupReport, CleanupStep } from '../../engine/cleanup.js';
import { ValidationError } from '../../errors.js';
import { validateContextId } from '../../validation.js';
import { resolveSchema, splitSchemaParam } from '../../backends/prisma/connection-schema.js';
import { loadBackend } from '../load-backend.js';
import { openBackend } from '../open-backend.js';
import { type CliCommand, type CliIo, exitCodeOf, redactUrl, requireDatabaseUrl, schemaOption, usageError } from '../command.js';
import { parseCount } from './stats.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration for a TTL option: milliseconds (`90000`), a number with a unit (`500ms`, `30s`,
 * `15m`, `24h`, `7d`), or `off` for `null` (the step is skipped).
 */
export function parseDuration(text: string | undefined, option: string): number | null | undefined {
  if (text === undefined) return undefined;
  if (text === 'off') return null;
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text);
  const unit = match?.[2] ?? 'ms';
  const ms = match === null ? Number.NaN : Number(match[1]) * (UNIT_MS[unit] ?? Number.NaN);
  if (!Number.isSafeInteger(ms)) {
    throw new ValidationError(option, `must be a duration such as 90000 (ms), 30s, 15m, 24h, 7d, or off; got ${JSON.stringify(text)}`);
  }
  return ms;
}

/** A duration in the largest unit that divides it, for messages: 86400000 → `24h`. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return 'off';
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** What `runCleanupCommand` does; each option left out takes the engine's default. */
export interface CleanupCommandOptions {
  readonly deltaTtl?: number | null;
  readonly contextTtl?: number | null;
  readonly deltaThreshold?: number;
  readonly batchSize?: number;
  readonly contextId?: string;
}

const STEP_NAMES: Readonly<Record<CleanupStep, string>> = {
  idleContexts: 'idle contexts',
  expiredDeltas: 'expired deltas',
  deltasBeyondThreshold: 'deltas beyond the threshold',
};

/**
 * Runs one cleanup on `backend` and prints what it did. A step that needs more than one batch is
 * a long run: each full batch prints a progress line, so a big table shows it is moving.
 */
export async function runCleanupCommand(backend: ChordBackend, io: CliIo, options: CleanupCommandOptions = {}): Promise<CleanupReport> {
  const deltaTtl = options.deltaTtl === undefined ? DEFAULT_DELTA_TTL : options.deltaTtl;
  const contextTtl = options.contextTtl === undefined ? DEFAULT_CONTEXT_TTL : options.contextTtl;
  const deltaThreshold = options.deltaThreshold ?? DEFAULT_DELTA_THRESHOLD;
  const batchSize = options.batchSize ?? DEFAULT_CLEANUP_BATCH_SIZE;
  const chord = new Chord({ backend, deltaTtl, contextTtl, deltaThreshold });
  io.out(
    `Cleanup: contexts idle longer than ${formatDuration(contextTtl)}, deltas older than ${formatDuration(deltaTtl)}, ` +
      `keep the newest ${deltaThreshold} deltas per context, batches of ${batchSize}` +
      (options.contextId === undefined ? '' : `, only context ${JSON.stringify(options.contextId)}`),
  );
  const lastSeen = new Map<CleanupStep, number>();
  const report = await chord.cleanup({
    batchSize,
    ...(options.contextId === undefined ? {} : { contextId: options.contextId }),
    onProgress: (step, deletedSoFar) => {
      const before = lastSeen.get(step) ?? 0;
      lastSeen.set(step, deletedSoFar);
      // A full batch means another one follows: only then is the run long enough to report on.
      if (deletedSoFar - before >= batchSize) io.out(`  ${STEP_NAMES[step]}: ${deletedSoFar} deleted so far…`);
    },
  });
  const { deltasDeleted } = report;
  io.out(`  idle contexts deleted: ${report.contextsDeleted} (with ${deltasDeleted.withContexts} deltas)`);
  io.out(`  expired deltas deleted: ${deltasDeleted.expired}`);
  io.out(`  deltas beyond the newest ${deltaThreshold} per context deleted: ${deltasDeleted.beyondThreshold}`);
  io.out(
    `Done in ${Math.round(report.durationMs)} ms: ${report.contextsDeleted} context(s) and ${deltasDeleted.total} delta(s) deleted.`,
  );
  return report;
}

/** `cleanup --dry-run`: what each step would delete now, deleting nothing. */
async function printCleanupPreview(url: string, schema: string, io: CliIo, options: CleanupCommandOptions): Promise<void> {
  const deltaTtl = options.deltaTtl === undefined ? DEFAULT_DELTA_TTL : options.deltaTtl;
  const contextTtl = options.contextTtl === undefined ? DEFAULT_CONTEXT_TTL : options.contextTtl;
  const deltaThreshold = options.deltaThreshold ?? DEFAULT_DELTA_THRESHOLD;
  const now = Date.now();
  const { previewCleanup } = await loadBackend('--url', 'PostgreSQL', () => import('../../backends/prisma/cleanup-preview.js'));
  const preview = await previewCleanup(url, schema, {
    contextCutoff: contextTtl === null ? null : now - contextTtl,
    deltaCutoff: deltaTtl === null ? null : now - deltaTtl,
    deltaThreshold,
    ...(options.contextId === undefined ? {} : { contextId: options.contextId }),
  });
  const { deltasDeleted } = preview;
  io.out(`Dry run on ${redactUrl(url)} (schema ${schema}): nothing deleted. A cleanup now would delete:`);
  io.out(`  1. idle contexts (idle longer than ${formatDuration(contextTtl)}): ${preview.contextsDeleted} (with ${deltasDeleted.withContexts} deltas)`);
  io.out(`  2. expired deltas (older than ${formatDuration(deltaTtl)}): ${deltasDeleted.expired}`);
  io.out(`  3. deltas beyond the newest ${deltaThreshold} per context: ${deltasDeleted.beyondThreshold}`);
  io.out(`In all: ${preview.contextsDeleted} context(s) and ${deltasDeleted.total} delta(s).`);
}

export const cleanupCommand: CliCommand = {
  name: 'cleanup',
  summary: 'delete idle contexts, expired deltas and deltas beyond the threshold, in batches',
  usage: `Usage: chord-sync cleanup [--url <postgresql://…|redis://…>] [--schema <name>] [--key-prefix <prefix>] [--delta-ttl <duration>]
                         [--context-ttl <duration>] [--threshold <n>] [--batch-size <n>] [--context <id>]
                         [--dry-run]

Runs chord-sync's cleanup once on the database at --url (default: DATABASE_URL), in three steps:
  1. contexts not written for longer than --context-ttl, with their deltas (default: off);
  2. deltas older than --delta-ttl (default: ${formatDuration(DEFAULT_DELTA_TTL)});
  3. per context, all but the newest --threshold deltas (default: ${DEFAULT_DELTA_THRESHOLD}).
Each step deletes set-based in batches of --batch-size rows (default: ${DEFAULT_CLEANUP_BATCH_SIZE}) and prints
progress while batches come back full. Durations are milliseconds or a number with ms, s, m, h
or d (e.g. 7d); "off" skips the step. --context limits every step to one context id. --schema is
the PostgreSQL schema of chord-sync's tables (default: the URL's ?schema=, else chord).
--dry-run deletes nothing: it counts what each step would delete now, in one read-only query.`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        url: { type: 'string' },
        schema: { type: 'string' },
        'key-prefix': { type: 'string' },
        'delta-ttl': { type: 'string' },
        'context-ttl': { type: 'string' },
        threshold: { type: 'string' },
        'batch-size': { type: 'string' },
        context: { type: 'string' },
        'dry-run': { type: 'boolean' },
      },
      allowPositionals: false,
    });
    const url = requireDatabaseUrl('cleanup', values.url, io);
    if (url === undefined) return 2;
    let options: CleanupCommandOptions;
    try {
      const batchSize = parseCount(values['batch-size'], '--batch-size');
      if (batchSize === 0) throw new ValidationError('--batch-size', 'must be at least 1');
      if (values.context !== undefined) validateContextId(values.context, '--context');
      options = {
        deltaTtl: parseDuration(values['delta-ttl'], '--delta-ttl'),
        contextTtl: parseDuration(values['context-ttl'], '--context-ttl'),
        deltaThreshold: parseCount(values.threshold, '--threshold'),
        batchSize,
        contextId: values.context,
      };
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return usageError('cleanup', io, error.message);
    }
    const schema = schemaOption('cleanup', values.schema, io);
    if (!schema.ok) return 2;
    if (values['dry-run'] === true && /^rediss?:\/\//i.test(url)) return usageError('cleanup', io, '--dry-run counts with one SQL query and needs a PostgreSQL URL');
    if (values['dry-run'] === true) {
      return exitCodeOf('cleanup', io, async () => {
        const split = splitSchemaParam(url, values.url === undefined ? 'DATABASE_URL' : '--url');
        await printCleanupPreview(split.url, resolveSchema(schema.schema, split.schema, '--schema'), io, options);
        return 0;
      });
    }
    const backend = await openBackend('cleanup', url, { schema: values.schema, keyPrefix: values['key-prefix'] }, io);
    if (backend === undefined) return 2;
    try {
      return await exitCodeOf('cleanup', io, async () => {
        io.out(`Database: ${redactUrl(url)}${values.schema === undefined ? '' : ` (schema ${values.schema})`}`);
        await runCleanupCommand(backend, io, options);
        return 0;
      });
    } finally {
      await backend.close();
    }
  },
};
