import type { CliCommand } from '../command.js';

/** `chord-sync help [command]`; takes the command list so that adding a command needs no change here. */
export function helpCommand(commands: () => readonly CliCommand[]): CliCommand {
  return {
    name: 'help',
    summary: 'show the commands, or the usage of one',
    usage: 'Usage: chord-sync help [command]',
    async run(args, io) {
      const [name] = args;
      if (name !== undefined) {
        const command = commands().find((c) => c.name === name);
        if (command === undefined) {
          io.err(`chord-sync help: unknown command ${JSON.stringify(name)}`);
          return 2;
        }
        io.out(command.usage);
        return 0;
      }
      const width = Math.max(...commands().map((c) => c.name.length));
      io.out(
        [
          'chord-sync: versioned state sync — a context per id, a delta per version.',
          '',
          'Usage: chord-sync <command> [options]',
          '',
          'Commands:',
          ...commands().map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
          '',
          'Run `chord-sync help <command>` for a command\'s options.',
        ].join('\n'),
      );
      return 0;
    },
  };
}
