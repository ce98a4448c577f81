import { parseArgs } from 'node:util';
import { migrate, PRISMA_MIGRATE_LOCK_KEY } from '../../backends/prisma/migrate.js';
import { type CliCommand, exitCodeOf, redactUrl, requireDatabaseUrl } from '../command.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'create or update chord-sync\'s tables in PostgreSQL (as `prisma migrate deploy` would)',
  usage: `Usage: chord-sync migrate [--url <postgresql://…>] [--schema <name>]

Applies chord-sync's pending migrations (prisma/migrations in the package) to the database at
--url, or DATABASE_URL when --url is not given. Each migration runs in its own transaction and is
recorded in _prisma_migrations exactly as Prisma records it, under Prisma's advisory lock
(${PRISMA_MIGRATE_LOCK_KEY}): a second process waits, then finds nothing to do, and
\`prisma migrate deploy\` later sees the migrations as applied. --schema names the PostgreSQL
schema to create (if missing) and migrate, as Prisma's ?schema= does (default: the connection's
search_path, normally public).`,

  async run(args, io) {
    const { values } = parseArgs({ args, options: { url: { type: 'string' }, schema: { type: 'string' } }, allowPositionals: false });
    const url = requireDatabaseUrl('migrate', values.url, io);
    if (url === undefined) return 2;
    io.out(`Migrating ${redactUrl(url)}`);
    return exitCodeOf('migrate', io, async () => {
      const result = await migrate(
        { connectionString: url },
        {
          ...(values.schema === undefined ? {} : { schema: values.schema }),
          onProgress: (progress) => {
            switch (progress.kind) {
              case 'waiting-for-lock':
                io.out(`  waiting for another migration to finish (advisory lock ${PRISMA_MIGRATE_LOCK_KEY})…`);
                break;
              case 'applying':
                io.out(`  applying ${progress.migration}…`);
                break;
              case 'applied':
                io.out(`  applied ${progress.migration}`);
                break;
              case 'up-to-date':
                io.out(`  nothing to apply: all ${progress.appliedBefore} migration(s) already applied`);
                break;
            }
          },
        },
      );
      if (result.applied.length > 0) io.out(`Done: applied ${result.applied.length} migration(s).`);
      return 0;
    });
  },
};
