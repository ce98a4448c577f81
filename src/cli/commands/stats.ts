import { parseArgs } from 'node:util';
import type { ChordBackend } from '../../backend.js';
import { ValidationError } from '../../errors.js';
import { validateCount } from '../../validation.js';
import { openBackend } from '../open-backend.js';
import { type CliCommand, type CliIo, exitCodeOf, redactUrl, requireDatabaseUrl, schemaOption, usageError } from '../command.js';

/** Default number of contexts `chord-sync stats` lists. */
export const DEFAULT_STATS_LIMIT = 50;

/** What `stats` shows. */
export interface StatsOptions {
  /** At most this many contexts, in context id order. Default: {@link DEFAULT_STATS_LIMIT}. */
  readonly limit?: number;
  /** Skip this many first. Default: 0. */
  readonly offset?: number;
  /** One JSON object on one line instead of the table: `{ contexts: [{ contextId, version, deltas, insertedAt }], offset, more }`. */
  readonly json?: boolean;
}

/** Parses a non-negative integer option, naming it in the error. */
export function parseCount(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new ValidationError(option, `must be a whole number ≥ 0, got ${JSON.stringify(text)}`);
  const value = Number(text);
  validateCount(value, option);
  return value;
}

function formatTime(insertedAt: number): string {
  // The default clock is Date.now, so timestamps are epoch milliseconds; anything else is shown raw.
  const date = new Date(insertedAt);
  return Number.isNaN(date.getTime()) ? String(insertedAt) : date.toISOString();
}

function table(header: readonly string[], rows: readonly string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (rightAligned.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/**
 * Prints a page of contexts (id, version, stored deltas, last write) as a table. One query for
 * the page, then one delta count per listed context, so the cost follows `limit`, not the table.
 */
export async function printStats(backend: ChordBackend, io: CliIo, options: StatsOptions = {}): Promise<void> {
  const limit = options.limit ?? DEFAULT_STATS_LIMIT;
  const offset = options.offset ?? 0;
  // One more than shown tells whether there is a next page without counting the whole table.
  const page = await backend.listContexts({ limit: limit + 1, offset, order: 'asc' });
  const shown = page.slice(0, limit);
  if (options.json === true) {
    const contexts = [];
    for (const record of shown) {
      const [counted] = await backend.listContextsWithDeltaCounts({ contextId: record.contextId });
      contexts.push({ contextId: record.contextId, version: record.version, deltas: counted?.count ?? 0, insertedAt: record.insertedAt });
    }
    io.out(JSON.stringify({ contexts, offset, more: page.length > limit }));
    return;
  }
  if (shown.length === 0) {
    io.out(offset === 0 ? 'No contexts stored.' : `No contexts past the first ${offset}.`);
    return;
  }
  const rows: string[][] = [];
  let deltaTotal = 0;
  for (const record of shown) {
    const [counted] = await backend.listContextsWithDeltaCounts({ contextId: record.contextId });
    const deltas = counted?.count ?? 0;
    deltaTotal += deltas;
    // JSON quoting shows ids with spaces, quotes or control characters unambiguously.
    rows.push([JSON.stringify(record.contextId), String(record.version), String(deltas), formatTime(record.insertedAt)]);
  }
  for (const line of table(['CONTEXT', 'VERSION', 'DELTAS', 'LAST WRITE'], rows, new Set([1, 2]))) io.out(line);
  const range = `${offset + 1}–${offset + shown.length}`;
  const more = page.length > limit ? `; more with --offset ${offset + limit}` : '';
  io.out(`\nContexts ${range} (${shown.length} shown, ${deltaTotal} deltas among them)${more}.`);
}

export const statsCommand: CliCommand = {
  name: 'stats',
  summary: 'list contexts with their version and number of stored deltas, as a table',
  usage: `Usage: chord-sync stats [--url <postgresql://…|redis://…>] [--schema <name>] [--key-prefix <prefix>] [--limit <n>] [--offset <n>] [--json]

Lists the contexts stored in the database at --url (default: DATABASE_URL) in context id order:
id, current version, number of stored deltas, and time of the last write. Shows --limit contexts
(default ${DEFAULT_STATS_LIMIT}) after skipping --offset (default 0). --schema is the PostgreSQL
schema of chord-sync's tables (default: the URL's ?schema=, else chord). --json prints one JSON
object instead: {"contexts":[{"contextId","version","deltas","insertedAt"}],"offset","more"}.`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: {
        url: { type: 'string' },
        schema: { type: 'string' },
        'key-prefix': { type: 'string' },
        limit: { type: 'string' },
        offset: { type: 'string' },
        json: { type: 'boolean' },
      },
      allowPositionals: false,
    });
    const url = requireDatabaseUrl('stats', values.url, io);
    if (url === undefined) return 2;
    let options: StatsOptions;
    try {
      options = { limit: parseCount(values.limit, '--limit'), offset: parseCount(values.offset, '--offset'), json: values.json === true };
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return usageError('stats', io, error.message);
    }
    const schema = schemaOption('stats', values.schema, io);
    if (!schema.ok) return 2;
    const backend = await openBackend('stats', url, { schema: values.schema, keyPrefix: values['key-prefix'] }, io);
    if (backend === undefined) return 2;
    try {
      return await exitCodeOf('stats', io, async () => {
        // With --json, stdout is the JSON alone.
        if (values.json !== true) io.out(`Contexts in ${redactUrl(url)}${values.schema === undefined ? '' : ` (schema ${values.schema})`}\n`);
        await printStats(backend, io, options);
        return 0;
      });
    } finally {
      await backend.close();
    }
  },
};
