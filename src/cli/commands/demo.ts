import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { migrate, type MigrateProgress, type MigrationPool } from '../../backends/prisma/migrate.js';
import { pglitePool } from '../../backends/prisma/pglite-pool.js';
import { PrismaBackend, type PrismaBackendConfig } from '../../backends/prisma/prisma-backend.js';
import { calculateDelta } from '../../delta/index.js';
import { ChordError } from '../../errors.js';
import type { JsonObject } from '../../types.js';
import { type CliCommand, type CliIo, redactUrl } from '../command.js';

const PGLITE_INSTALL_HINT =
  'The demo runs on in-process PGlite by default, an optional peer dependency of chord-sync. Install it with\n' +
  '  npm install @electric-sql/pglite pglite-prisma-adapter\n' +
  'or set DATABASE_URL (or pass --url) to run the demo on a PostgreSQL server.';

/** How many deltas the demo's prune step keeps. */
const DEMO_KEEP = 1;

interface DemoDatabase {
  readonly description: string;
  readonly migrationTarget: { connectionString: string } | { pool: MigrationPool };
  readonly backendConfig: PrismaBackendConfig;
  close(): Promise<void>;
}

async function openPGlite(): Promise<DemoDatabase | undefined> {
  let pglite: typeof import('@electric-sql/pglite');
  let adapter: typeof import('pglite-prisma-adapter');
  try {
    pglite = await import('@electric-sql/pglite');
    adapter = await import('pglite-prisma-adapter');
  } catch {
    return undefined;
  }
  const db = await pglite.PGlite.create();
  return {
    description: 'in-process PGlite (set DATABASE_URL to use a PostgreSQL server)',
    migrationTarget: { pool: pglitePool(db) },
    backendConfig: { adapter: new adapter.PrismaPGlite(db) },
    close: () => db.close(),
  };
}

function openServer(url: string): DemoDatabase {
  return {
    description: `PostgreSQL at ${redactUrl(url)}`,
    migrationTarget: { connectionString: url },
    backendConfig: { connectionString: url },
    close: async () => {},
  };
}

function json(value: unknown): string {
  return JSON.stringify(value);
}

async function runDemo(database: DemoDatabase, io: CliIo, contextId: string, cleanUp: boolean): Promise<void> {
  io.out(`chord-sync demo on ${database.description}\n`);

  io.out('1. Migrate: create chord_contexts and chord_deltas');
  const progress = (p: MigrateProgress): void => {
    if (p.kind === 'applied') io.out(`   applied ${p.migration}`);
    if (p.kind === 'up-to-date') io.out(`   nothing to apply: ${p.appliedBefore} migration(s) already applied`);
    if (p.kind === 'waiting-for-lock') io.out('   waiting for another migration to finish…');
  };
  await migrate(database.migrationTarget, { onProgress: progress });

  const backend = new PrismaBackend(database.backendConfig);
  try {
    io.out(`\n2. Write three versions of context ${json(contextId)} (each: context + delta in one statement)`);
    const versions: JsonObject[] = [
      { title: 'Lobby', members: ['ada'] },
      { title: 'Lobby', members: ['ada', 'grace'] },
      { title: 'Main hall', members: ['ada', 'grace'], topic: 'sync' },
    ];
    let previous: JsonObject = {};
    for (const [i, context] of versions.entries()) {
      const { context: record } = await backend.writeVersion(contextId, context, calculateDelta(previous, context), i);
      io.out(`   v${record.version}  ${json(record.context)}`);
      previous = context;
    }

    io.out('\n3. List contexts with delta counts');
    for (const { contextId: id, count } of await backend.listContextsWithDeltaCounts({ contextId })) {
      io.out(`   ${json(id)}: ${count} deltas`);
    }

    io.out('\n4. Deltas a client at version 1 would fetch');
    for (const delta of await backend.getDeltas(contextId, 1)) io.out(`   v${delta.version}  ${json(delta.delta)}`);

    io.out(`\n5. Prune: keep only the newest ${DEMO_KEEP} delta`);
    const removed = await backend.deleteDeltasExceedingThreshold(contextId, DEMO_KEEP);
    const [after] = await backend.listContextsWithDeltaCounts({ contextId });
    io.out(`   removed ${removed} deltas; ${json(contextId)} now has ${after?.count ?? 0} delta(s), context still at v${(await backend.getContext(contextId))?.version}`);

    if (cleanUp) {
      io.out('\n6. Clean up: remove the demo context and its deltas from the server');
      const deltas = await backend.deleteDeltasForContext(contextId);
      const contexts = await backend.deleteContext(contextId);
      io.out(`   removed ${contexts} context and ${deltas} delta(s)`);
    }
    io.out('\nDone.');
  } finally {
    await backend.close();
  }
}

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'a short walk through chord-sync on in-process PGlite (or DATABASE_URL)',
  usage: `Usage: chord-sync demo [--url <postgresql://…>]

Migrates, writes a few versions of a context, lists contexts with delta counts and prunes old
deltas, printing each step. Runs on in-process PGlite unless --url or DATABASE_URL names a
PostgreSQL server; there it uses a context id of its own and removes it at the end.`,

  async run(args, io) {
    const { values } = parseArgs({ args, options: { url: { type: 'string' } }, allowPositionals: false });
    const url = values.url ?? io.env.DATABASE_URL;
    let database: DemoDatabase;
    if (url !== undefined && url !== '') {
      database = openServer(url);
    } else {
      const embedded = await openPGlite();
      if (embedded === undefined) {
        io.err(PGLITE_INSTALL_HINT);
        return 1;
      }
      database = embedded;
    }
    const onServer = url !== undefined && url !== '';
    // On a shared server, a random suffix keeps the demo off anyone's real data.
    const contextId = onServer ? `demo:room-${randomBytes(4).toString('hex')}` : 'demo:room-1';
    try {
      await runDemo(database, io, contextId, onServer);
      return 0;
    } catch (error) {
      if (error instanceof ChordError) {
        io.err(`chord-sync demo: ${error.message}`);
        return 1;
      }
      throw error;
    } finally {
      await database.close();
    }
  },
};
