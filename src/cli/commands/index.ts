import type { CliCommand } from '../command.js';
import { cleanupCommand } from './cleanup.js';
import { demoCommand } from './demo.js';
import { helpCommand } from './help.js';
import { migrateCommand } from './migrate.js';
import { serveCommand } from './serve.js';
import { statsCommand } from './stats.js';

/** Every command, in the order `chord-sync help` lists them. Add a command here. */
export const COMMANDS: readonly CliCommand[] = [
  migrateCommand,
  statsCommand,
  cleanupCommand,
  demoCommand,
  serveCommand,
  helpCommand(() => COMMANDS),
];
