// The `chord-sync/prisma` entry: the PostgreSQL backend through Prisma, and its migrations.
export {
  PrismaBackend,
  DEFAULT_SCHEMA,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_POOL_SIZE,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  DEFAULT_ROW_LOCK_TIMEOUT_MS,
} from './prisma-backend.js';
export type {
  PrismaBackendConfig,
  PrismaBackendCommonConfig,
  PrismaBackendConnectionConfig,
  PrismaBackendPoolConfig,
  PrismaBackendClientConfig,
  PrismaBackendAdapterConfig,
  PrismaDriverAdapter,
} from './prisma-backend.js';
export type { PrismaRawClient, PgQueryPool } from './sql-executor.js';
export {
  migrate,
  migrationScript,
  migrationChecksum,
  readMigrations,
  MigrationError,
  PRISMA_MIGRATE_LOCK_KEY,
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_MIGRATIONS_DIR,
} from './migrate.js';
export type {
  MigrateTarget,
  MigrateOptions,
  MigrateProgress,
  MigrateResult,
  MigrationScriptOptions,
  MigrationPool,
  MigrationConnection,
  MigrationFile,
} from './migrate.js';
export { pglitePool } from './pglite-pool.js';
export type { PGliteLike } from './pglite-pool.js';
