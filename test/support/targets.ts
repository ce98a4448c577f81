/**
 * The backends every suite runs against, as one list: the memory backend (the reference), Prisma
 * on the run's PostgreSQL server (when there is one, see database.ts) through its own pool
 * (statements straight to pg) and through a caller's Prisma client (Prisma's raw queries), and
 * Prisma on in-process PGlite. Each harness gives a fresh, empty backend per test: on PostgreSQL
 * and PGlite a new schema, provisioned by `migrate`, dropped in `dispose`.
 *
 * Without a server, `prisma/pglite-socket` runs the `{ connectionString }` path (the backend's own
 * `pg` pool and prepared statements) against the file's PGlite through its wire protocol, pool
 * size 1: PGlite is one session (see pglite-socket.ts).
 *
 * Call `backendTargets()` / `prismaTargets()` at the top level of a test file: shared resources
 * (an admin pool, the file's one PGlite instance, ~2.5 s to start, its socket server) are made on
 * first use and closed after the file. `{ withSkipped: true }` also lists the server targets this
 * run cannot reach, with `skip` saying why, for `describe.skipIf(target.skip !== undefined)`.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { afterAll, beforeAll, inject } from 'vitest';
import type { ChordBackend } from '../../src/backend.js';
import { MemoryBackend } from '../../src/backends/memory/memory-backend.js';
import { PrismaClient } from '../../src/backends/prisma/generated/client.js';
import { PrismaBackend, migrate, pglitePool } from '../../src/backends/prisma/index.js';
import type { BackendHarness } from '../../src/testing/harness.js';
import { type DatabaseChoice, createRunDatabase, serverUrl } from './database.js';
import { type PgliteWire, servePglite } from './pglite-socket.js';

/** A named way to get fresh backends. */
export interface BackendTarget<B extends ChordBackend = ChordBackend> {
  readonly name: string;
  /**
   * The name with the connection form (the PrismaBackend config key it is made with), for test
   * names: `forTarget(target.label)` (see named.ts) ends every test's name with it.
   */
  readonly label: string;
  readonly harness: BackendHarness<B>;
}

/** Direct SQL on the database behind a Prisma target, to check what was really stored. */
export interface SqlInspector {
  /** The schema the backend's tables are in. */
  schemaOf(backend: PrismaBackend): string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface PrismaTarget extends BackendTarget<PrismaBackend> {
  /** 'postgres' for the run's server, 'pglite' for the in-process database (directly or over its socket). */
  readonly database: 'postgres' | 'pglite';
  readonly inspector: SqlInspector;
  /** Why this target cannot run here (only with `{ withSkipped: true }`); its harness then throws. */
  readonly skip?: string;
}

function newSchemaName(): string {
  return `chord_t_${randomBytes(6).toString('hex')}`;
}

/** The choice made by the globalSetup; PGlite when run without it. */
export function databaseChoice(): DatabaseChoice {
  return inject('chordDatabase') ?? { kind: 'pglite', reason: 'run without the vitest globalSetup' };
}

/**
 * Why a test that needs a PostgreSQL server of its own (several sessions at once, CREATE DATABASE,
 * pg_stat_activity, other processes) cannot run; undefined when this run has one.
 */
export function noServerReason(): string | undefined {
  const choice = databaseChoice();
  return choice.kind === 'pglite' ? `no PostgreSQL server (${choice.reason}); PGlite is a single session` : undefined;
}

/** ` (skipped: reason)` for a test name, or '' when it runs. */
export function skipNote(reason: string | undefined): string {
  return reason === undefined ? '' : ` (skipped: ${reason})`;
}

let adminPool: pg.Pool | undefined;
let pglite: Promise<PGlite> | undefined;
let wire: Promise<PgliteWire> | undefined;
let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  afterAll(async () => {
    await adminPool?.end();
    adminPool = undefined;
    if (wire !== undefined) await (await wire).close();
    wire = undefined;
    if (pglite !== undefined) await (await pglite).close();
    pglite = undefined;
  });
}

let warmUpRegistered = false;

/**
 * Starts the file's PGlite (and its socket) in a beforeAll, under the hook timeout: on a busy
 * machine PGlite takes tens of seconds to start, which the first test would otherwise pay inside
 * its own timeout.
 */
function warmUp(socket: boolean): void {
  if (warmUpRegistered) return;
  warmUpRegistered = true;
  beforeAll(async () => {
    await (socket ? sharedWire() : sharedPGlite());
  });
}

function sharedWire(): Promise<PgliteWire> {
  wire ??= sharedPGlite().then(servePglite);
  return wire;
}

/**
 * A URL `pg` connects to: the run's server, else the file's PGlite over its socket (one client at
 * a time: give a pool `max: 1` and close it before opening another). Call at the top level of the
 * file (it registers the file's cleanup); await the result inside a test or hook.
 */
export function wireUrl(): () => Promise<string> {
  registerCleanup();
  const url = serverUrl(databaseChoice());
  if (url === undefined) warmUp(true);
  return async () => url ?? (await sharedWire()).url;
}

/** An empty database `pg` reaches at `url`; `query` runs SQL in it (on its `public` schema by default). */
export interface EmptyWireDatabase {
  readonly url: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

/**
 * What `pg` sees as an empty database of its own: a new database on the run's server, else the
 * socket PGlite with its `public` schema emptied (and the schemas made since, dropped by `drop`).
 * Call at the top level of the file; the function it returns makes one.
 */
export function emptyWireDatabase(): () => Promise<EmptyWireDatabase> {
  registerCleanup();
  const server = serverUrl(databaseChoice());
  if (server === undefined) warmUp(true);
  return async () => {
    if (server !== undefined) {
      const created = await createRunDatabase(server);
      const pool = new pg.Pool({ connectionString: created.url, max: 2 });
      return {
        url: created.url,
        query: async <T>(sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows as T[],
        drop: async () => {
          await pool.end();
          await created.drop();
        },
      };
    }
    const db = await sharedPGlite();
    const url = (await sharedWire()).url;
    const schemas = async () => new Set((await db.query<{ n: string }>('SELECT nspname AS n FROM pg_namespace')).rows.map((r) => r.n));
    const before = await schemas();
    await db.exec('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public');
    return {
      url,
      // Straight to PGlite, not through the socket, which the code under test may be holding.
      query: async <T>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows,
      drop: async () => {
        for (const schema of await schemas()) if (!before.has(schema)) await db.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await db.exec('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public');
      },
    };
  };
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
      label: 'prisma/postgres {connectionString}',
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
      label: 'prisma/postgres {prisma}',
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

/** A target on the shared in-process PGlite; `open` makes the backend on it for a migrated schema. */
function pgliteBased(name: string, form: string, open: (db: PGlite, schema: string, clock: () => number) => Promise<PrismaBackend>): PrismaTarget {
  const schemas = new WeakMap<PrismaBackend, string>();
  return {
    name,
    label: `${name} {${form}}`,
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
        const backend = await open(db, schema, clock);
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

function pgliteTarget(): PrismaTarget {
  return pgliteBased('prisma/pglite', 'adapter', async (db, schema, clock) => new PrismaBackend({ adapter: new PrismaPGlite(db), schema, clock }));
}

function pgliteSocketTarget(): PrismaTarget {
  // The `{ connectionString }` path with no server: the backend's own pg pool and prepared
  // statements, over the wire protocol, to the same PGlite as prisma/pglite.
  return pgliteBased('prisma/pglite-socket', 'connectionString', async (_db, schema, clock) => {
    const { url } = await sharedWire();
    // One session at a time: no cleanup lock, whose session of its own would wait on the pool's.
    return new PrismaBackend({ connectionString: url, schema, clock, poolSize: 1, cleanupLock: false });
  });
}

/** A server target this run cannot reach: listed so its tests are reported as skipped. */
function unreachable(target: PrismaTarget, reason: string): PrismaTarget {
  const refuse = (): never => {
    throw new Error(`${target.name} is skipped in this run: ${reason}`);
  };
  return { ...target, skip: reason, harness: { makeBackend: refuse, dispose: refuse } };
}

/**
 * The Prisma targets: on the run's server through its own pool and through a Prisma client (if
 * there is a server; else on PGlite's socket for the pool), and on PGlite through its adapter.
 * With `withSkipped`, the server targets of a run without one come too, `skip` set. `database`
 * keeps only the targets on a server ('postgres', skipped when there is none) or only those on
 * PGlite, so a file of server targets starts no PGlite.
 */
export function prismaTargets(options: { withSkipped?: boolean; database?: PrismaTarget['database'] } = {}): PrismaTarget[] {
  registerCleanup();
  const url = serverUrl(databaseChoice());
  const onServer = options.database !== 'pglite';
  const onPglite = options.database !== 'postgres';
  if (onPglite) warmUp(url === undefined);
  if (url !== undefined) return [...(onServer ? serverTargets(url) : []), ...(onPglite ? [pgliteTarget()] : [])];
  const reason = noServerReason() as string;
  const skipped = onServer && options.withSkipped === true ? serverTargets('postgresql://unreachable.invalid/none').map((t) => unreachable(t, reason)) : [];
  return [...skipped, ...(onPglite ? [pgliteSocketTarget(), pgliteTarget()] : [])];
}

/** The memory backend, the reference. */
export function memoryTarget(): BackendTarget<MemoryBackend> {
  return { name: 'memory', label: 'memory', harness: { makeBackend: ({ clock }) => new MemoryBackend({ clock }) } };
}

/** Every backend, the memory reference first. The engine suite loops over the same list. */
export function backendTargets(options: { withSkipped?: boolean } = {}): Array<BackendTarget & { readonly skip?: string }> {
  return [memoryTarget() as BackendTarget, ...(prismaTargets(options) as BackendTarget[])];
}
