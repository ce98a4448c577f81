// The four ways a PrismaBackend reaches PostgreSQL, each a function returning the same record:
// where statements go, what the backend must close, where a cleanup lock session comes from, and
// where change notices come from. Adding a form is one more function here and one line in the
// constructor that picks it.
import pg from 'pg';
import { PrismaClient } from './generated/client.js';
import { mapDriverError } from './driver-errors.js';
import type { LockSession } from './cleanup-lock.js';
import { type PGliteListener, type PgListenClient, PGliteChangeFeed, PgChangeFeed } from './notifications.js';
import { createPgPool, type PgQueryPool, PgSqlExecutor, type PrismaRawClient, PrismaSqlExecutor, type SqlExecutor } from './sql-executor.js';

/** A Prisma driver adapter factory, e.g. `new PrismaPg(…)` or PGlite's `new PrismaPGlite(db)`. */
export type PrismaDriverAdapter = NonNullable<NonNullable<ConstructorParameters<typeof PrismaClient>[0]>['adapter']>;

/** Opens a session of its own for the cleanup lock, and says how to give it back. */
export type OpenLockSession = () => Promise<{ session: LockSession; close(broken: boolean): Promise<void> | void }>;

/** What one connection form gives a {@link PrismaBackend}. */
export interface PrismaConnection {
  /** Where the backend's statements go. */
  readonly exec: SqlExecutor;
  /** The pool the backend made, and so must end in `close()`; undefined when the app owns it. */
  readonly ownPool: pg.Pool | undefined;
  /** The Prisma client the backend made, and so must disconnect in `close()`; undefined when the app owns it. */
  readonly ownClient: { $disconnect(): Promise<void> } | undefined;
  /** Where a session for the cleanup lock comes from; undefined for the forms that have none to give. */
  readonly lockSession: OpenLockSession | undefined;
  /** Where change notices come from: a listening session of its own, PGlite's `listen()`, or none. */
  readonly changes: PgChangeFeed | PGliteChangeFeed | undefined;
}

/** The settings of `{ connectionString }`, defaults filled in. */
export interface OwnPoolSettings {
  /** The URL without its `?schema=`. */
  readonly url: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly onPoolError: (error: Error) => void;
  readonly cleanupLock: boolean;
}

/** `{ connectionString }`: a pool of the backend's own, a lock session and a listening session beside it. */
export function ownPoolConnection(settings: OwnPoolSettings, channel: string): PrismaConnection {
  const { url, connectTimeoutMs, statementTimeoutMs, lockTimeoutMs } = settings;
  const { pool, connecting } = createPgPool({
    connectionString: url,
    max: settings.poolSize,
    connectionTimeoutMillis: connectTimeoutMs,
    statementTimeoutMs,
    lockTimeoutMs,
    // A process that forgets close() still exits once its work is done, instead of waiting
    // for idle connections to time out.
    allowExitOnIdle: true,
  });
  // An idle client whose server went away emits 'error' on the pool; with no listener Node
  // would crash the process. The pool discards that client by itself.
  pool.on('error', settings.onPoolError);
  const lockSession: OpenLockSession | undefined = !settings.cleanupLock
    ? undefined
    : async () => {
        // Not from the pool: the pass itself needs the pool's connections (a pool of 1 would wait on itself).
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
        client.on('error', () => undefined); // a dropped session frees the lock; the pass's own statements report
        try {
          await client.connect();
        } catch (error) {
          await client.end().catch(() => undefined);
          throw error;
        }
        return { session: client, close: () => client.end().catch(() => undefined) };
      };
  const changes = new PgChangeFeed(async () => {
    // Not from the pool: a LISTENing session must stay one session, and never be handed out.
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true });
    // A server gone away emits 'error'; the feed's own handler (added once connected) reconnects.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw mapDriverError(error, 'PrismaBackend.subscribeChanges');
    }
    return { client, close: () => client.end() };
  }, channel);
  return {
    // The backend owns this pool, so its statements go to it directly as prepared statements:
    // Prisma's raw-query path costs 1.4–3.9× per call (docs/benchmarks.md, "via Prisma").
    exec: new PgSqlExecutor(pool, { statementTimeoutMs, lockTimeoutMs, connecting }),
    ownPool: pool,
    ownClient: undefined,
    lockSession,
    changes,
  };
}

/** `{ pool }`: the app's pool, used as is (its settings, its error handling) and never ended here. */
export function appPoolConnection(pool: PgQueryPool, channel: string): PrismaConnection {
  const connect = pool.connect?.bind(pool);
  if (connect === undefined) return { exec: new PgSqlExecutor(pool), ownPool: undefined, ownClient: undefined, lockSession: undefined, changes: undefined };
  return {
    exec: new PgSqlExecutor(pool),
    ownPool: undefined,
    ownClient: undefined,
    lockSession: async () => {
      const connection = await connect();
      // Held for a whole pass: a session the server ends meanwhile must not crash the process.
      connection.on?.('error', () => undefined);
      return { session: connection, close: (broken) => connection.release(broken) };
    },
    changes: new PgChangeFeed(async () => {
      let connection: Awaited<ReturnType<typeof connect>>;
      try {
        connection = await connect();
      } catch (error) {
        throw mapDriverError(error, 'PrismaBackend.subscribeChanges');
      }
      const client = connection as unknown as PgListenClient;
      client.on('error', () => undefined);
      // Released as broken, so the pool closes it rather than hand out a LISTENing session.
      return { client, close: async () => connection.release(true) };
    }, channel),
  };
}

/** `{ adapter }`: a Prisma client of the backend's own over the adapter, disconnected in `close()`. */
export function adapterConnection(adapter: PrismaDriverAdapter, listen: PGliteListener | undefined, channel: string): PrismaConnection {
  const client = new PrismaClient({ adapter });
  return { ...clientConnection(client, listen, channel), ownClient: client };
}

/** `{ prisma }`: the app's Prisma client, never disconnected here. Notices (both Prisma forms) only through PGlite's `listen`. */
export function clientConnection(prisma: PrismaRawClient, listen: PGliteListener | undefined, channel: string): PrismaConnection {
  return {
    exec: new PrismaSqlExecutor(prisma),
    ownPool: undefined,
    ownClient: undefined,
    lockSession: undefined,
    changes: listen === undefined ? undefined : new PGliteChangeFeed(listen, channel),
  };
}
