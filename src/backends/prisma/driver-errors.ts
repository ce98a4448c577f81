import { BackendUnavailableError, ChordError, VersionConflictError } from '../../errors.js';

/** Which write a conflict would be about, for `VersionConflictError`. */
export interface ConflictSubject {
  readonly contextId: string;
  readonly expectedVersion: number;
}

// SQLSTATEs meaning "the server is not there for us": connection exceptions (class 08), admin or
// crash shutdown, cannot connect now, too many connections, the database missing or access refused.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '3D000', '28000', '28P01']);
// A missing table or schema: the database is reachable but not provisioned for chord-sync.
const NOT_PROVISIONED_SQLSTATES = new Set(['42P01', '3F000']);
const CONFLICT_SQLSTATES = new Set(['23505', '40001', '40P01']);
// Node socket errors.
const UNAVAILABLE_SYSCODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED',
]);
// Kinds of @prisma/driver-adapter-utils' DriverAdapterError that mean the same.
const UNAVAILABLE_ADAPTER_KINDS = new Set([
  'DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TlsConnectionError',
  'DatabaseDoesNotExist', 'DatabaseAccessDenied', 'AuthenticationFailed',
]);
const CONFLICT_ADAPTER_KINDS = new Set(['UniqueConstraintViolation', 'TransactionWriteConflict']);
// Prisma's own codes for connection trouble: can't reach, timed out, auth, db missing, closed, pool timeout, too many.
const UNAVAILABLE_PRISMA_CODES = new Set(['P1000', 'P1001', 'P1002', 'P1003', 'P1008', 'P1010', 'P1011', 'P1017', 'P2024', 'P2037']);
// Errors that carry no code: pg-pool's connect timeout, a client whose socket closed, a closed PGlite.
const UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|connection terminated|connection timeout|connection error|connection is closed|Client was closed|PGlite is closed|Cannot use a pool after calling end/i;

interface Facts {
  sqlstates: string[];
  syscodes: string[];
  kinds: string[];
  prismaCodes: string[];
  messages: string[];
  isDriverError: boolean;
}

/** Collects codes from the error and everything it wraps (Prisma wraps the adapter's error, which wraps pg's). */
function collect(error: unknown): Facts {
  const facts: Facts = { sqlstates: [], syscodes: [], kinds: [], prismaCodes: [], messages: [], isDriverError: false };
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): void => {
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > 6) return;
    seen.add(value);
    const v = value as Record<string, unknown>;
    const name = typeof v.name === 'string' ? v.name : (value as object).constructor?.name ?? '';
    if (/^PrismaClient|^DriverAdapterError$|^DatabaseError$/.test(name)) facts.isDriverError = true;
    if (typeof v.message === 'string') facts.messages.push(v.message);
    for (const key of ['code', 'originalCode']) {
      const code = v[key];
      if (typeof code !== 'string') continue;
      // No SQLSTATE class starts with "E", so Node's socket codes (EPIPE…) are told apart first.
      if (/^P\d{4}$/.test(code)) facts.prismaCodes.push(code);
      else if (/^E[A-Z_]+$/.test(code)) {
        facts.syscodes.push(code);
        facts.isDriverError = true;
      } else if (/^[0-9A-Z]{5}$/.test(code)) {
        facts.sqlstates.push(code);
        facts.isDriverError = true;
      }
    }
    if (typeof v.kind === 'string') {
      facts.kinds.push(v.kind);
      facts.isDriverError = true;
    }
    visit(v.cause, depth + 1);
    if (v.meta && typeof v.meta === 'object') visit((v.meta as Record<string, unknown>).driverAdapterError, depth + 1);
  };
  visit(error, 0);
  return facts;
}

function isUnavailable(f: Facts): boolean {
  return (
    f.sqlstates.some((c) => c.startsWith('08') || UNAVAILABLE_SQLSTATES.has(c)) ||
    f.syscodes.some((c) => UNAVAILABLE_SYSCODES.has(c)) ||
    f.kinds.some((k) => UNAVAILABLE_ADAPTER_KINDS.has(k)) ||
    f.prismaCodes.some((c) => UNAVAILABLE_PRISMA_CODES.has(c)) ||
    f.messages.some((m) => UNAVAILABLE_MESSAGE.test(m))
  );
}

/** The most specific message in the chain (the driver's, not Prisma's "Invalid invocation" text). */
function innermostMessage(f: Facts): string {
  return f.messages.at(-1)?.trim().split('\n').at(-1) ?? 'unknown error';
}

/**
 * Turns whatever the driver threw into a chord-sync error, keeping the original as `cause`:
 * connection trouble → `BackendUnavailableError`; a lost race on a compare-and-set write →
 * `VersionConflictError`; a missing table → `BackendUnavailableError` saying to migrate; any other
 * database error → `BackendUnavailableError` naming it. Errors that are not from the driver (a bug,
 * a `ChordError`) pass through unchanged.
 */
export function mapDriverError(error: unknown, operation: string, conflict?: ConflictSubject): unknown {
  if (error instanceof ChordError) return error;
  const facts = collect(error);
  if (isUnavailable(facts)) {
    return new BackendUnavailableError(`${operation}: the database is unavailable (${innermostMessage(facts)})`, { cause: error });
  }
  if (
    conflict !== undefined &&
    (facts.sqlstates.some((c) => CONFLICT_SQLSTATES.has(c)) || facts.kinds.some((k) => CONFLICT_ADAPTER_KINDS.has(k)))
  ) {
    return new VersionConflictError(conflict.contextId, conflict.expectedVersion, undefined, { cause: error });
  }
  if (facts.sqlstates.some((c) => NOT_PROVISIONED_SQLSTATES.has(c)) || facts.kinds.includes('TableDoesNotExist')) {
    return new BackendUnavailableError(
      `${operation}: chord-sync's tables are missing (${innermostMessage(facts)}); provision the database with \`chord-sync migrate\` or \`prisma migrate deploy\``,
      { cause: error },
    );
  }
  if (facts.isDriverError) {
    return new BackendUnavailableError(`${operation}: the database failed the statement (${innermostMessage(facts)})`, { cause: error });
  }
  return error;
}
