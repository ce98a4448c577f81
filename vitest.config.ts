import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const jsonReport = process.env.CHORD_TEST_JSON;
const json: Array<['json', { outputFile: string }]> = jsonReport ? [['json', { outputFile: jsonReport }]] : [];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Bounds on a hang, not budgets: on a loaded 2-core machine a PGlite start, a tsc run or a child
    // process takes many times its quiet time, and a test must not fail for that. The slow files
    // are watched another way (.ci/run prints the slowest ten of every run).
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Test files are independent (each test has its own schema, key prefix or server; each file
    // its own PGlite), so they run side by side: one worker per core, at least two (vitest's own
    // default is cores − 1, which on a 2-core machine runs every file one after another). Many
    // files wait on a database or a child process, so two workers pay even on one core.
    // VITEST_MAX_WORKERS overrides it.
    maxWorkers: Math.max(2, availableParallelism()),
    // Chooses the test database and Redis once per run (DATABASE_URL, a container, or PGlite;
    // REDIS_URL or a redis-server of its own); see test/support/database.ts and redis-server.ts.
    globalSetup: ['test/support/global-setup.ts'],
    // The default reporter, then every skip reason (the default one shows only counts); with
    // CHORD_TEST_JSON=<file>, vitest's JSON report too (.ci/run prints the slowest files from it).
    reporters: [
      'default',
      './test/support/skip-reasons-reporter.ts',
      ...json,
    ],
  },
});
