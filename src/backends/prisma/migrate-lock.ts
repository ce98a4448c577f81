// In a module of its own (no driver import), so the CLI's usage text can name it without `pg`.

/** The advisory lock key Prisma Migrate takes (`SELECT pg_advisory_lock(72707369)`), so the two exclude each other. */
export const PRISMA_MIGRATE_LOCK_KEY = 72707369;
