/**
 * The backends every suite runs against, as one list: the memory backend (the reference), Prisma
 * on the run's PostgreSQL server (when there is one, see database.ts) through its own pool
 * (statements straight to pg) and through a caller's Prisma client (Prisma's raw queries), and
 * Prisma on in-process PGlite. Each harness gives a fresh, empty backend per test: on PostgreSQL
 * and PGlite a new schema, provisioned by `migrate`, dropped in `dispose`.
 *
 * Call `backendTargets()` / `prismaTargets()` at the top level of a test file: shared resources
 * (an admin pool, the file's one PGlite instance, ~2.5 s to start) are made on first use and
 * closed after the file.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { afterAll, inject } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { PrismaClient } from '../../src/backends/prisma/generated/client.js';
import { PrismaBackend, migrate, pglitePool } from '../../src/backends/prisma/index.js';
import type { BackendHarness } from '../../src/testing/harness.js';
import { type DatabaseChoice, serverUrl } from './database.js';

/** A named way to get fresh backends. */
export interface BackendTarget<B extends ChordBackend = ChordBackend> {
  readonly name: string;
  readonly harness: BackendHarness<B>;
}

/** Direct SQL on the database behind a Prisma target, to check what was really stored. */
export interface SqlInspector {
  /** The schema the backend's tables are in. */
  schemaOf(backend: PrismaBackend): string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface PrismaTarget extends BackendTarget<PrismaBackend> {
  /** 'postgres' for the run's server, 'pglite' for the in-process database. */
  readonly database: 'postgres' | 'pglite';
  readonly inspector: SqlInspector;
}

function newSchemaName(): string {
  return `chord_t_${randomBytes(6).toString('hex')}`;
}

/** The choice made by the globalSetup; PGlite when run without it. */
export function databaseChoice(): DatabaseChoice {
  return inject('chordDatabase') ?? { kind: 'pglite' };
}

let adminPool: pg.Pool | undefined;
let pglite: Promise<PGlite> | undefined;
let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  afterAll(async () => {
    await adminPool?.end();
    adminPool = undefined;
    if (pglite !== undefined) await (await pglite).close();
    pglite = undefined;
  });
}

function admin(url: string): pg.Pool {
  adminPool ??= new pg.Pool({ connectionString: url, max: 2 });
  return adminPool;
}

function sharedPGlite(): Promise<PGlite> {
  pglite ??= PGlite.create();
  return pglite;
}

function serverTargets(url: string): PrismaTarget[] {
  const schemas = new WeakMap<PrismaBackend, string>();
  const extraCleanup = new WeakMap<PrismaBackend, () => Promise<void>>();
  const inspector: SqlInspector = {
    schemaOf: (backend) => schemas.get(backend) ?? 'public',
    query: async <T>(sql: string, params: unknown[] = []) => (await admin(url).query(sql, params)).rows as T[],
  };
  const dispose = async (backend: PrismaBackend): Promise<void> => {
    await backend.close();
    await extraCleanup.get(backend)?.();
    const schema = schemas.get(backend);
    if (schema !== undefined) await admin(url).query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  };
  return [
    {
      // The backend owns its pool and sends every statement to it directly.
      name: 'prisma/postgres',
      database: 'postgres',
      inspector,
      harness: {
        async makeBackend({ clock }) {
          const schema = newSchemaName();
          await migrate({ pool: admin(url) }, { schema });
          const backend = new PrismaBackend({ connectionString: url, schema, clock, poolSize: 3 });
          schemas.set(backend, schema);
          return backend;
        },
        dispose,
      },
    },
    {
      // A caller's Prisma client: every statement through Prisma's raw queries.
      name: 'prisma/postgres-client',
      database: 'postgres',
      inspector,
      harness: {
        async makeBackend({ clock }) {
          const schema = newSchemaName();
          await migrate({ pool: admin(url) }, { schema });
          const pool = new pg.Pool({ connectionString: url, max: 3 });
          pool.on('error', () => {});
          const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }) });
          const backend = new PrismaBackend({ prisma, schema, clock });
          schemas.set(backend, schema);
          extraCleanup.set(backend, async () => {
            await prisma.$disconnect();
            await pool.end();
          });
          return backend;
        },
        dispose,
      },
    },
  ];
}

function pgliteTarget(): PrismaTarget {
  const schemas = new WeakMap<PrismaBackend, string>();
  return {
    name: 'prisma/pglite',
    database: 'pglite',
    inspector: {
      schemaOf: (backend) => schemas.get(backend) ?? 'public',
      query: async <T>(sql: string, params: unknown[] = []) => (await (await sharedPGlite()).query<T>(sql, params)).rows,
    },
    harness: {
      async makeBackend({ clock }) {
        const db = await sharedPGlite();
        const schema = newSchemaName();
        await migrate({ pool: pglitePool(db) }, { schema });
        const backend = new PrismaBackend({ adapter: new PrismaPGlite(db), schema, clock });
        schemas.set(backend, schema);
        return backend;
      },
      async dispose(backend) {
        await backend.close();
        await (await sharedPGlite()).exec(`DROP SCHEMA IF EXISTS "${schemas.get(backend)}" CASCADE`);
      },
    },
  };
}

/** The Prisma targets: on the run's server (if any) and on PGlite. */
export function prismaTargets(): PrismaTarget[] {
  registerCleanup();
  const url = serverUrl(databaseChoice());
  return [...(url === undefined ? [] : serverTargets(url)), pgliteTarget()];
}

/** Every backend, the memory reference first. The engine suite loops over the same list. */
export function backendTargets(): Array<BackendTarget> {
  const memory: BackendTarget<MemoryBackend> = {
    name: 'memory',
    harness: { makeBackend: ({ clock }) => new MemoryBackend({ clock }) },
  };
  return [memory as BackendTarget, ...(prismaTargets() as BackendTarget[])];
}
