import { parseArgs } from 'node:util';
import { DEFAULT_SCHEMA, resolveSchema, splitSchemaParam } from '../../backends/prisma/connection-schema.js';
import { ValidationError } from '../../errors.js';
import { PRISMA_MIGRATE_LOCK_KEY } from '../../backends/prisma/migrate-lock.js';
import { type CliCommand, exitCodeOf, redactUrl, requireDatabaseUrl, schemaOption, usageError } from '../command.js';
import { loadPostgres } from '../load-backend.js';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'create or update chord-sync\'s tables in PostgreSQL (as `prisma migrate deploy` would)',
  usage: `Usage: chord-sync migrate [--url <postgresql://…>] [--schema <name>] [--print] [--move-from-public]

Applies chord-sync's pending migrations (prisma/migrations in the package) to the database at
--url, or DATABASE_URL when --url is not given, in the PostgreSQL schema --schema (default: the
URL's ?schema=, else ${DEFAULT_SCHEMA}), created if missing. The schema keeps chord-sync's tables and its own
migration history (a _prisma_migrations table of its own, never your app's), so your app's Prisma
migrations never see them. Each migration runs in its own transaction and is recorded exactly as
Prisma records it, under Prisma's advisory lock (${PRISMA_MIGRATE_LOCK_KEY}): a second process waits, then
finds nothing to do. An install from before the ${DEFAULT_SCHEMA} schema (tables in public) is refused with what
to check; --move-from-public then moves it into ${DEFAULT_SCHEMA} first, in one transaction. Tables without
migration records are refused with what to do, never half-migrated.
--print writes the SQL to stdout instead (for a DBA to read or run with psql), connecting to nothing.`,

  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { url: { type: 'string' }, schema: { type: 'string' }, print: { type: 'boolean' }, 'move-from-public': { type: 'boolean' } },
      allowPositionals: false,
    });
    const schema = schemaOption('migrate', values.schema, io);
    if (!schema.ok) return 2;
    if (values.print === true) {
      // A URL given names no database to connect to here, but its ?schema= still counts.
      const given = values.url ?? io.env.DATABASE_URL;
      const { migrationScript } = await loadPostgres('--print');
      let printed: string;
      try {
        const fromUrl = given === undefined || given === '' ? undefined : splitSchemaParam(given, values.url === undefined ? 'DATABASE_URL' : '--url').schema;
        printed = await migrationScript({ schema: resolveSchema(schema.schema, fromUrl, '--schema') });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        return usageError('migrate', io, error.message);
      }
      io.out(printed.trimEnd());
      return 0;
    }
    const url = requireDatabaseUrl('migrate', values.url, io);
    if (url === undefined) return 2;
    io.out(`Migrating ${redactUrl(url)}`);
    return exitCodeOf('migrate', io, async () => {
      const { migrate } = await loadPostgres('--url');
      const result = await migrate(
        { connectionString: url },
        {
          ...(schema.schema === undefined ? {} : { schema: schema.schema }),
          ...(values['move-from-public'] === true ? { moveFromPublic: true } : {}),
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
              case 'moved-from-public':
                io.out(
                  `  moved ${progress.tables.join(' and ')} (and ${progress.records} migration record(s)) from schema public to ${progress.schema}: ` +
                    `chord-sync keeps its tables in a schema of its own now, out of your app's migrations. ` +
                    `An app that gave PrismaBackend schema: 'public' must drop that option (the default is ${progress.schema}).`,
                );
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
