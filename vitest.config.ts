import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Chooses the test database once per run (DATABASE_URL, a container, or PGlite); see test/support/database.ts.
    globalSetup: ['test/support/global-setup.ts'],
  },
});
