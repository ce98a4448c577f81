import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { MigrateProgress, MigrationPool } from '../../backends/prisma/migrate.js';
import { pglitePool } from '../../backends/prisma/pglite-pool.js';
import type { PrismaBackendConfig } from '../../backends/prisma/prisma-backend.js';
import { Chord } from '../../engine/index.js';
import { type CliCommand, type CliIo, exitCodeOf, redactUrl } from '../command.js';
import { loadPostgres } from '../load-backend.js';

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
  const { migrate, PrismaBackend } = await loadPostgres('pool' in database.migrationTarget ? 'the demo (PGlite)' : '--url');
  await migrate(database.migrationTarget, { onProgress: progress });

  const backend = new PrismaBackend(database.backendConfig);
  const chord = new Chord({ backend });
  try {
    io.out(`\n2. Write three versions of context ${json(contextId)} (each: context + delta in one statement)`);
    const set = await chord.setContext(contextId, { title: 'Lobby', members: ['ada'] });
    io.out(`   v${set.context.version}  setContext     ${json(set.context.context)}`);
    const joined = await chord.updateContext(contextId, { members: ['ada', 'grace'] });
    io.out(`   v${joined.context.version}  updateContext  ${json(joined.context.context)}`);
    const renamed = await chord.updateContext(contextId, { title: 'Main hall', topic: 'sync' });
    io.out(`   v${renamed.context.version}  updateContext  ${json(renamed.context.context)}`);
    io.out(`       its delta  ${json(renamed.delta?.delta)}`);

    io.out('\n3. Sync: what clients holding different versions receive');
    for (const clientVersion of [null, 1, 3]) {
      const result = await chord.syncContext(contextId, clientVersion);
      const from = clientVersion === null ? 'nothing' : `v${clientVersion}`;
      if (result.kind === 'full') io.out(`   from ${from}: full context v${result.context.version}`);
      else if (result.kind === 'delta') io.out(`   from ${from}: one delta v${result.fromVersion} → v${result.version}  ${json(result.delta)}`);
      else io.out(`   from ${from}: no change (v${result.version})`);
    }

    io.out('\n4. List contexts with delta counts');
    for (const { contextId: id, count } of await backend.listContextsWithDeltaCounts({ contextId })) {
      io.out(`   ${json(id)}: ${count} deltas`);
    }

    io.out(`\n5. Prune: cleanup keeps the newest ${DEMO_KEEP} delta per context`);
    const report = await chord.cleanup({ contextId, deltaThreshold: DEMO_KEEP });
    const [after] = await backend.listContextsWithDeltaCounts({ contextId });
    const current = await chord.getContext(contextId);
    io.out(`   removed ${report.deltasDeleted.total} deltas; ${json(contextId)} now has ${after?.count ?? 0} delta(s), context still at v${current?.version}`);
    const stale = await chord.syncContext(contextId, 1);
    io.out(`   a client at v1 now gets: ${stale.kind} (its deltas are gone, so never a partial delta)`);

    if (cleanUp) {
      io.out('\n6. Clean up: remove the demo context and its deltas from the server');
      const existed = await chord.deleteContext(contextId);
      io.out(`   removed ${existed ? 1 : 0} context and its deltas`);
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

Migrates, writes a few versions of a context through the Chord engine, syncs clients at
different versions, lists contexts with delta counts and prunes old deltas, printing each step. Runs on in-process PGlite unless --url or DATABASE_URL names a
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
      return await exitCodeOf('demo', io, async () => {
        await runDemo(database, io, contextId, onServer);
        return 0;
      });
    } finally {
      await database.close();
    }
  },
};
