import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ChordError } from '../errors.js';
import { type CliIo, reportChordError, usageError } from './command.js';
import { COMMANDS } from './commands/index.js';

/** The real process's output and environment. */
export function processIo(): CliIo {
  // `chord-sync stats | head -1`: the reader closed the pipe; stop quietly instead of an EPIPE stack.
  if (process.stdout.listenerCount('error') === 0) {
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  return {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (text) => void process.stderr.write(`${text}\n`),
    env: process.env,
  };
}

/**
 * Runs `chord-sync <command> …`; `argv` is the arguments after the program name. Resolves to the
 * exit code: 0 done, 1 the command failed, 2 bad usage.
 */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...args] = argv;
  const help = COMMANDS.find((c) => c.name === 'help');
  if (name === undefined || name === '--help' || name === '-h') {
    return (await help?.run([], io)) ?? 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.out(packageVersion());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`chord-sync: unknown command ${JSON.stringify(name)} (see chord-sync --help)`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    // parseArgs throws TypeError with code ERR_PARSE_ARGS_* for unknown or malformed options.
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      // parseArgs' message may run over lines (it suggests `--` for positionals): keep its first.
      return usageError(name, io, (error as Error).message.split('\n')[0]!.trim());
    }
    if (error instanceof ChordError) return reportChordError(name, io, error);
    // Anything else is a bug in chord-sync: the stack is what its report needs.
    io.err(`chord-sync ${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}

/** chord-sync's version, from its package.json (two levels up from src/cli and from dist/cli alike). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// `node dist/cli/main.js demo` (what `npm start` runs) executes this file directly; bin/chord-sync.js imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
