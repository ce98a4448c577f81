import type { CliCommand } from '../command.js';
import { demoCommand } from './demo.js';
import { helpCommand } from './help.js';
import { migrateCommand } from './migrate.js';

/** Every command, in the order `chord-sync help` lists them. Add a command here. */
export const COMMANDS: readonly CliCommand[] = [migrateCommand, demoCommand, helpCommand(() => COMMANDS)];
