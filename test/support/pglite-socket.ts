/**
 * An in-process PGlite served over the PostgreSQL wire protocol on 127.0.0.1, so `pg` (and
 * `PrismaBackend({ connectionString })`, `migrate({ connectionString })`, the CLI) reach it as they
 * would a server, on a machine with no PostgreSQL server and no Docker.
 *
 * PGlite is ONE session. The package's own multiplexing server interleaves the extended-protocol
 * messages (Parse/Bind/Execute/Sync) of several clients into that one session, and a second client
 * would find the first one's named prepared statements (pg names them per process, chord-sync's
 * PgSqlExecutor reuses the names): so this server lets one client in at a time, queues the next
 * connection until the current one closes, and between clients rolls back and `DISCARD ALL`s.
 * A pool of more than one connection therefore waits for its first connection to close: use pool
 * size 1 against it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler, PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** A PGlite reachable at `url`. */
export interface PgliteWire {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  /** Ends every client connection and stops listening (the PGlite stays open: its owner closes it). */
  close(): Promise<void>;
}

type QueryQueue = ConstructorParameters<typeof PGLiteSocketHandler>[0]['queryQueue'];

/** Serves `db` on a free port of 127.0.0.1, one client at a time. */
export async function servePglite(db: PGlite): Promise<PgliteWire> {
  // The package does not export its query queue; its server makes one for the handlers it creates.
  const queryQueue = Reflect.get(new PGLiteSocketServer({ db }), 'queryQueue') as QueryQueue | undefined;
  if (queryQueue === undefined) throw new Error('@electric-sql/pglite-socket: PGLiteSocketServer has no queryQueue (package changed?)');
  const sockets = new Set<Socket>();
  // Resolves when the client before the latest one has finished and the session is reset.
  let turn: Promise<void> = Promise.resolve();

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const previous = turn;
    let release!: () => void;
    turn = new Promise<void>((resolve) => (release = resolve));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    void (async () => {
      try {
        await previous;
        if (socket.destroyed) return;
        const handler = new PGLiteSocketHandler({ queryQueue, closeOnDetach: true });
        await handler.attach(socket);
        await closed;
        await handler.detach(false);
      } finally {
        sockets.delete(socket);
        // The next client gets a session as new: no open transaction, no prepared statement, no SET.
        try {
          if (db.isInTransaction()) await db.exec('ROLLBACK');
          await db.exec('DISCARD ALL');
        } catch {
          // The database was closed under us (end of the test file): nothing to reset.
        }
        release();
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Let every client's reset finish, and the handlers' own close steps (a setImmediate later),
      // before the caller closes the database under them.
      await turn;
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
