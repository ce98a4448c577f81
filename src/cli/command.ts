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
    io.err(`chord-sync ${command}: no database given: set DATABASE_URL or pass --url postgresql://…`);
    return undefined;
  }
  return chosen;
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
    io.err(`chord-sync ${command}: ${error.message}`);
    return 1;
  }
}
