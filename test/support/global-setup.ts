// vitest globalSetup: picks the test database once per run (see database.ts) and removes it at the end.
import type { TestProject } from 'vitest/node';
import { chooseDatabase } from './database.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { choice, release } = await chooseDatabase();
  project.provide('chordDatabase', choice);
  const where = choice.kind === 'pglite' ? 'PGlite (no DATABASE_URL, no Docker engine)' : `${choice.kind} ${new URL(choice.url).pathname.slice(1)}`;
  process.stderr.write(`chord-sync tests: PostgreSQL = ${where}\n`);
  return release;
}
