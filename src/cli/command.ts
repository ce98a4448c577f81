import { ChordError } from '../errors.js';

/** Where a command writes, and what it reads from its environment (replaceable in tests). */
export interface CliIo {
  /** One line (or block) of normal output. */
  out(text: string): void;
  /** One line (or block) of error output. */
  err(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** One `chord-sync <name>` command, in its own file under src/cli/commands. */
export interface CliCommand {
  readonly name: string;
  /** One line for `chord-sync help`. */
  readonly summary: string;
  /** Usage and options, shown by `chord-sync help <name>` and `chord-sync <name> --help`. */
  readonly usage: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/** The URL with its password hidden, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * The database a command works on: `--url`, else DATABASE_URL. When neither is given it says so on
 * stderr and returns undefined (the command then exits 2).
 */
export function requireDatabaseUrl(command: string, url: string | undefined, io: CliIo): string | undefined {
  const chosen = url ?? io.env.DATABASE_URL;
  if (chosen === undefined || chosen === '') {
    usageError(command, io, 'no database given: set DATABASE_URL or pass --url postgresql://…');
    return undefined;
  }
  if (!URL.canParse(chosen)) {
    // Else the driver reads a fragment of it as a host name and fails with getaddrinfo ENOTFOUND.
    const from = url === undefined ? 'DATABASE_URL' : '--url';
    usageError(command, io, `${from} is not a URL (expected postgresql://user:password@host:5432/database), got ${JSON.stringify(redactUnparsable(chosen))}`);
    return undefined;
  }
  return chosen;
}

function redactUnparsable(text: string): string {
  // It did not parse, so a password cannot be picked out exactly: hide everything before an @.
  const at = text.lastIndexOf('@');
  return at === -1 ? text : `***${text.slice(at)}`;
}

/**
 * Reports bad usage of `chord-sync <command>` on stderr in one line that points to its --help, and
 * returns the exit code for it, 2.
 */
export function usageError(command: string, io: CliIo, message: string): number {
  io.err(`chord-sync ${command}: ${message} (see chord-sync ${command} --help)`);
  return 2;
}

/** `--schema` as given, or a usage error when it cannot be a schema name (e.g. empty). */
export function schemaOption(command: string, value: string | undefined, io: CliIo): { ok: true; schema: string | undefined } | { ok: false } {
  if (value === undefined) return { ok: true, schema: undefined };
  if (value === '' || value.includes('\u0000') || Buffer.byteLength(value) > 63) {
    usageError(command, io, `--schema must be a PostgreSQL schema name (1 to 63 bytes), got ${JSON.stringify(value)}`);
    return { ok: false };
  }
  return { ok: true, schema: value };
}

/**
 * Runs a command's work and returns its exit code; when the work fails with a `ChordError` (an
 * unreachable database, a refused migration…), says so on stderr and returns 1. Any other error
 * is a bug and propagates.
 */
export async function exitCodeOf(command: string, io: CliIo, work: () => Promise<number>): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ChordError)) throw error;
    return reportChordError(command, io, error);
  }
}

/**
 * Prints a `ChordError` as one line, `chord-sync <command>: <message> [<code>]` (no stack: the
 * message says what to fix), and returns the exit code for it, 1.
 */
export function reportChordError(command: string, io: CliIo, error: ChordError): number {
  // A driver's message may span lines (Prisma's does); the report stays one line.
  const message = error.message.split('\n').map((line) => line.trim()).filter((line) => line !== '').join(' ');
  io.err(`chord-sync ${command}: ${message} [${error.code}]`);
  return 1;
}
