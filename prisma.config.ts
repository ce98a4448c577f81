import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection for its CLI (migrate deploy, studio) from here, not the schema.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/chord' },
});
