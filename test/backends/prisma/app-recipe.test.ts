// docs/prisma.md's recipe, as an app would follow it: its own Prisma 7 schema folder with its own
// model plus chord-sync's fragment (prisma/fragment/chord.prisma) generates a client with typed
// chordContext/chordDelta; the tables are provisioned by chord-sync's SQL (COLLATE "C" kept, so the
// typed client lists ids in byte order); and chord-sync writes through the app's client, inside
// the app's transaction with { prisma: tx }.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PrismaBackend, migrate } from '../../../src/backends/prisma/index.js';
import { Chord } from '../../../src/engine/chord.js';
import { REPO_ROOT } from '../../support/build.js';
import { emptyWireDatabase } from '../../support/targets.js';

const emptyDatabase = emptyWireDatabase();
let app: string;

function prismaCli(args: string[]): string {
  // Offline: `generate` never runs the schema engine, but the CLI wants one to exist (scripts/prisma-generate.mjs).
  const placeholder = join(app, 'schema-engine-placeholder');
  writeFileSync(placeholder, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  return execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'prisma', 'build', 'index.js'), ...args], {
    cwd: app,
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: placeholder, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
    encoding: 'utf8',
    timeout: 180_000,
  });
}

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), 'chord-prisma-app-'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(app, 'node_modules'), 'dir');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  mkdirSync(join(app, 'prisma', 'schema'), { recursive: true });
  // The app's schema folder: its generator and datasource, its own model, and the fragment as shipped.
  writeFileSync(
    join(app, 'prisma', 'schema', 'schema.prisma'),
    `generator client {
  provider            = "prisma-client"
  output              = "../../generated"
  moduleFormat        = "esm"
  importFileExtension = "js"
}

datasource db {
  provider = "postgresql"
  schemas  = ["public", "chord"]
}
`,
  );
  writeFileSync(
    join(app, 'prisma', 'schema', 'app.prisma'),
    `model User {
  id    Int    @id @default(autoincrement())
  email String @unique

  @@schema("public")
}
`,
  );
  copyFileSync(join(REPO_ROOT, 'prisma', 'fragment', 'chord.prisma'), join(app, 'prisma', 'schema', 'chord.prisma'));
  const out = prismaCli(['generate', '--schema', 'prisma/schema']);
  expect(out).toMatch(/Generated Prisma Client/);
}, 300_000);

afterAll(() => {
  if (app !== undefined) rmSync(app, { recursive: true, force: true });
});

test('the generated client types chordContext and chordDelta beside the app\'s own models', () => {
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      include: ['check.ts'],
    }),
  );
  writeFileSync(
    join(app, 'check.ts'),
    `import { PrismaClient } from './generated/client.js';
declare const prisma: PrismaClient;
const rows = await prisma.chordContext.findMany({ orderBy: { contextId: 'asc' }, select: { contextId: true, version: true, epoch: true } });
const version: bigint = rows[0]!.version;
const id: string = rows[0]!.contextId;
const deltas: number = await prisma.chordDelta.count({ where: { contextId: id, version: { gt: version } } });
const users = await prisma.user.findMany();
// @ts-expect-error: the model has no such field, and the client knows it
await prisma.chordContext.findMany({ where: { bogus: 1 } });
export { deltas, users };
`,
  );
  // Throws with tsc's diagnostics if the models are missing or untyped (or the expected error is not one).
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8', timeout: 180_000 });
});

test('provisioned by chord-sync, read through the typed client in byte order, written by chord-sync inside the app\'s transaction', async () => {
  const db = await emptyDatabase();
  // The app's own table, as its own migration would make it.
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query('CREATE TABLE public."User" (id serial PRIMARY KEY, email text NOT NULL UNIQUE)');
  await admin.end();
  await migrate({ connectionString: db.url });

  const { PrismaClient } = (await import(pathToFileURL(join(app, 'generated', 'client.ts')).href)) as {
    PrismaClient: new (options: { adapter: PrismaPg }) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: db.url, max: 1 }) });
  try {
    const chord = new Chord({ backend: new PrismaBackend({ prisma }) });
    for (const id of ['b', 'é', 'B', 'a']) await chord.setContext(id, { id });
    await chord.updateContext('a', { more: true });

    const rows = (await prisma.chordContext.findMany({ orderBy: { contextId: 'asc' } })) as Array<{ contextId: string; version: bigint }>;
    // COLLATE "C" from chord-sync's SQL: UTF-8 byte order, whatever the server's locale.
    expect(rows.map((r) => r.contextId)).toEqual(['B', 'a', 'b', 'é']);
    expect(rows.find((r) => r.contextId === 'a')?.version).toBe(2n);
    expect(await prisma.chordDelta.count({ where: { contextId: 'a' } })).toBe(2);

    // { prisma: tx }: chord-sync's write commits or rolls back with the app's own.
    const failed = await prisma
      .$transaction(async (tx: unknown) => {
        await (tx as typeof prisma).user.create({ data: { email: 'ada@example.com' } });
        await new Chord({ backend: new PrismaBackend({ prisma: tx as typeof prisma }) }).setContext('in-tx', { n: 1 });
        throw new Error('the app changes its mind');
      })
      .catch((error: Error) => error.message);
    expect(failed).toBe('the app changes its mind');
    expect(await prisma.user.count()).toBe(0);
    expect(await chord.getContext('in-tx')).toBeNull();

    await prisma.$transaction(async (tx: unknown) => {
      await (tx as typeof prisma).user.create({ data: { email: 'grace@example.com' } });
      await new Chord({ backend: new PrismaBackend({ prisma: tx as typeof prisma }) }).setContext('in-tx', { n: 1 });
    });
    expect(await prisma.user.count()).toBe(1);
    expect(await chord.getContext('in-tx')).toMatchObject({ version: 1, context: { n: 1 } });
  } finally {
    await prisma.$disconnect();
    await db.drop();
  }
});
