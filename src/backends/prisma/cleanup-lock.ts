import { mapDriverError } from './driver-errors.js';

/** One session, as `pg.PoolClient` or a connected `pg.Client` offers it. */
export interface LockSession {
  query(config: { text: string; values?: unknown[] }): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/**
 * First key of the cleanup lock (`pg_try_advisory_lock(key, hashtext(schema))`): "chrd" in ASCII,
 * apart from Prisma Migrate's single-key lock; the second key makes each schema its own lock.
 */
export const CLEANUP_LOCK_KEY = 0x63687264;

/**
 * Runs `pass` holding the session-level advisory lock of `schema`'s cleanup on a session of its
 * own, opened by `open` and closed by `close` afterwards (so the lock never outlives the pass);
 * when another session holds the lock, returns `{ ran: false }` at once.
 */
export async function runExclusiveCleanup<S extends LockSession, T>(
  schema: string,
  open: () => Promise<S>,
  close: (session: S, broken: boolean) => Promise<void> | void,
  pass: () => Promise<T>,
): Promise<{ ran: true; result: T } | { ran: false }> {
  let session: S;
  try {
    session = await open();
  } catch (error) {
    throw mapDriverError(error, 'cleanup lock');
  }
  let broken = false;
  try {
    let locked: boolean;
    try {
      const { rows } = await session.query({
        text: 'SELECT pg_try_advisory_lock($1::int, hashtext($2::text)) AS locked',
        values: [CLEANUP_LOCK_KEY, schema],
      });
      locked = rows[0]?.locked === true;
    } catch (error) {
      broken = true;
      throw mapDriverError(error, 'cleanup lock');
    }
    if (!locked) return { ran: false };
    try {
      return { ran: true, result: await pass() };
    } finally {
      await session.query({ text: 'SELECT pg_advisory_unlock($1::int, hashtext($2::text))', values: [CLEANUP_LOCK_KEY, schema] }).catch(() => {
        broken = true; // closing the session below drops the lock anyway
      });
    }
  } finally {
    await close(session, broken);
  }
}
