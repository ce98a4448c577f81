import {
  BackendUnavailableError,
  ChordError,
  ConfigurationError,
  type ConfigurationProblem,
  PoolExhaustedError,
  StatementError,
  TimeoutError,
  VersionConflictError,
} from '../../errors.js';

/** Which write a conflict would be about, for `VersionConflictError`. */
export interface ConflictSubject {
  readonly contextId: string;
  readonly expectedVersion: number;
}

/**
 * Where a driver error arose, as the executor that caught it knows from where it caught it (never
 * from the error's text): waiting for a pooled connection, opening one, or running a statement.
 */
export type DriverErrorOrigin =
  /** `pool.connect()` gave up waiting for a connection (pg-pool's queue timeout). */
  | { readonly phase: 'pool-wait'; readonly busy: number; readonly connecting: number; readonly waitedMs: number }
  /** The pool was ended (the backend closed). */
  | { readonly phase: 'pool-closed' }
  /** Opening a new connection failed; `passwordMissing`: the server had asked for a password and there was none. */
  | { readonly phase: 'connect'; readonly passwordMissing?: boolean }
  /** A statement failed on a connection the backend holds; the timeouts are what the backend set on it. */
  | { readonly phase: 'statement'; readonly elapsedMs: number; readonly statementTimeoutMs?: number; readonly lockTimeoutMs?: number }
  /** Prisma's raw query (a caller's client or adapter): whatever the driver layer threw. */
  | { readonly phase: 'driver' };

const origins = new WeakMap<object, DriverErrorOrigin>();

/** Records where `error` arose, for {@link mapDriverError}. Keeps the error itself untouched (it becomes `cause`). */
export function markDriverError(error: unknown, origin: DriverErrorOrigin): void {
  if (error !== null && typeof error === 'object' && !origins.has(error)) origins.set(error, origin);
}

// Class 08 (connection exception) is matched by its prefix; these are the others meaning "the
// server is not there for us right now": shutdowns, cannot connect now, database dropped, idle
// session timeout, and class 53 (insufficient resources: too many connections, disk, memory) and
// 58 (system error: I/O) by prefix.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57P04', '57P05']);
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '58'];
const CONFIGURATION_SQLSTATES: ReadonlyMap<string, ConfigurationProblem> = new Map([
  ['28P01', 'authentication_failed'],
  ['28000', 'access_denied'],
  ['3D000', 'database_missing'],
  ['42501', 'permission_denied'],
  // A missing table or schema, or a column a later migration adds: reachable, but not provisioned.
  ['42P01', 'not_provisioned'],
  ['3F000', 'not_provisioned'],
  ['42703', 'not_provisioned'],
]);
/** query_canceled: statement_timeout fired (or someone sent a cancel request). */
const STATEMENT_TIMEOUT_SQLSTATE = '57014';
/** lock_not_available: lock_timeout fired (chord-sync never uses NOWAIT). */
const LOCK_TIMEOUT_SQLSTATE = '55P03';
const CONFLICT_SQLSTATES = new Set(['23505', '40001', '40P01']);

// Kinds of @prisma/driver-adapter-utils' DriverAdapterError.
const UNAVAILABLE_ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TlsConnectionError']);
const CONFIGURATION_ADAPTER_KINDS: ReadonlyMap<string, ConfigurationProblem> = new Map([
  ['AuthenticationFailed', 'authentication_failed'],
  ['DatabaseAccessDenied', 'access_denied'],
  ['DatabaseDoesNotExist', 'database_missing'],
  ['TableDoesNotExist', 'not_provisioned'],
  ['ColumnNotFound', 'not_provisioned'],
]);
const CONFLICT_ADAPTER_KINDS = new Set(['UniqueConstraintViolation', 'TransactionWriteConflict']);

// Prisma's own codes (https://www.prisma.io/docs/orm/reference/error-reference).
const CONFIGURATION_PRISMA_CODES: ReadonlyMap<string, ConfigurationProblem> = new Map([
  ['P1000', 'authentication_failed'],
  ['P1003', 'database_missing'],
  ['P1010', 'access_denied'],
  ['P2021', 'not_provisioned'],
  ['P2022', 'not_provisioned'],
]);
// Can't reach, timed out, operation timed out, TLS, server closed the connection, too many connections.
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1011', 'P1017', 'P2037']);
/** "Timed out fetching a new connection from the connection pool". */
const POOL_TIMEOUT_PRISMA_CODE = 'P2024';

/** What to do about each configuration problem, for the message. */
const FIXES: Record<ConfigurationProblem, { readonly what: string; readonly fix: string }> = {
  authentication_failed: { what: 'the database refused the password', fix: 'check the password in the connection string' },
  password_missing: { what: 'the database asks for a password and none was given', fix: 'put it in the connection string (postgresql://user:password@host/db) or PGPASSWORD' },
  access_denied: { what: 'the database refused the role or the connection', fix: 'check the user name in the connection string, and that pg_hba.conf lets it connect' },
  database_missing: { what: 'the database does not exist', fix: 'check the database name in the connection string, or create it' },
  permission_denied: { what: "the role may not use chord-sync's tables", fix: "grant it access to chord-sync's schema and tables (or connect as their owner)" },
  not_provisioned: {
    what: "chord-sync's tables are missing or out of date",
    fix: 'run `chord-sync migrate` (or `prisma migrate deploy`) on this database and schema',
  },
};

interface Facts {
  sqlstates: string[];
  syscodes: string[];
  nodeCodes: string[];
  kinds: string[];
  prismaCodes: string[];
  messages: string[];
  names: string[];
  origin: DriverErrorOrigin | undefined;
  passwordMissing: boolean;
  chordError: ChordError | undefined;
}

/** Collects codes from the error and everything it wraps (Prisma wraps the adapter's error, which wraps pg's). */
function collect(error: unknown): Facts {
  const facts: Facts = {
    sqlstates: [], syscodes: [], nodeCodes: [], kinds: [], prismaCodes: [], messages: [], names: [], origin: undefined, passwordMissing: false, chordError: undefined,
  };
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): void => {
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > 6) return;
    seen.add(value);
    const origin = origins.get(value);
    facts.origin ??= origin;
    if (origin?.phase === 'connect' && origin.passwordMissing === true) facts.passwordMissing = true;
    if (value instanceof ChordError) facts.chordError ??= value;
    const v = value as Record<string, unknown>;
    const name = typeof v.name === 'string' ? v.name : (value.constructor?.name ?? '');
    facts.names.push(name);
    if (typeof v.message === 'string') facts.messages.push(v.message);
    for (const key of ['code', 'originalCode', 'errorCode']) {
      const code = v[key];
      if (typeof code !== 'string') continue;
      // Told apart by shape: Prisma's P1234; Node's ERR_…; errno names (ECONNRESET…: no SQLSTATE
      // class starts with "E"); SQLSTATEs, five digits or capitals.
      if (/^P\d{4}$/.test(code)) facts.prismaCodes.push(code);
      else if (code.startsWith('ERR_')) facts.nodeCodes.push(code);
      else if (/^E[A-Z0-9]+$/.test(code)) facts.syscodes.push(code);
      else if (/^[0-9A-Z]{5}$/.test(code)) facts.sqlstates.push(code);
    }
    if (typeof v.kind === 'string') facts.kinds.push(v.kind);
    visit(v.cause, depth + 1);
    if (v.meta !== null && typeof v.meta === 'object') visit((v.meta as Record<string, unknown>).driverAdapterError, depth + 1);
  };
  visit(error, 0);
  return facts;
}

/** The most specific message in the chain (the driver's, not Prisma's "Invalid invocation" text), for people to read. */
function innermostMessage(f: Facts): string {
  return f.messages.at(-1)?.trim().split('\n').at(-1) ?? 'no message';
}

function hasCode(f: Facts): boolean {
  return f.sqlstates.length + f.syscodes.length + f.nodeCodes.length + f.kinds.length + f.prismaCodes.length > 0;
}

function configurationProblem(f: Facts): { problem: ConfigurationProblem; code: string } | undefined {
  for (const code of f.sqlstates) {
    const problem = CONFIGURATION_SQLSTATES.get(code);
    if (problem !== undefined) return { problem, code: `SQLSTATE ${code}` };
  }
  for (const kind of f.kinds) {
    const problem = CONFIGURATION_ADAPTER_KINDS.get(kind);
    if (problem !== undefined) return { problem, code: kind };
  }
  for (const code of f.prismaCodes) {
    const problem = CONFIGURATION_PRISMA_CODES.get(code);
    if (problem !== undefined) return { problem, code };
  }
  return undefined;
}

function unavailableCode(f: Facts): string | undefined {
  return (
    f.sqlstates.find((c) => UNAVAILABLE_SQLSTATES.has(c) || UNAVAILABLE_SQLSTATE_CLASSES.includes(c.slice(0, 2))) ??
    f.syscodes[0] ??
    f.nodeCodes.find((c) => c.startsWith('ERR_TLS') || c.startsWith('ERR_SSL') || c === 'ERR_SOCKET_CONNECTION_TIMEOUT') ??
    f.kinds.find((k) => UNAVAILABLE_ADAPTER_KINDS.has(k)) ??
    f.prismaCodes.find((c) => UNAVAILABLE_PRISMA_CODES.has(c))
  );
}

/** The message of a {@link ConfigurationError} for `problem`: what is wrong, the driver's words, what to fix. */
export function configurationMessage(operation: string, problem: ConfigurationProblem, detail: string): string {
  const { what, fix } = FIXES[problem];
  return `${operation}: ${what} (${detail}); ${fix}`;
}

/**
 * Turns whatever the driver threw into a chord-sync error, keeping the original as `cause`, by
 * codes only (SQLSTATE, errno names, Prisma codes, driver-adapter kinds) and by where the executor
 * caught it ({@link markDriverError}):
 * - a wrong password, an unknown database or role, missing tables → `ConfigurationError` saying what to fix;
 * - connection trouble (class 08, shutdowns, socket errors, a connection failing without a code) →
 *   `BackendUnavailableError`; no pooled connection free in time while none is being opened →
 *   `PoolExhaustedError`;
 * - statement_timeout / lock_timeout → `TimeoutError` naming which;
 * - a lost race on a compare-and-set write → `VersionConflictError`;
 * - any other database error → `StatementError` (retrying will not help).
 * Errors that are not from the driver (a bug, a `ChordError`) pass through unchanged.
 */
export function mapDriverError(error: unknown, operation: string, conflict?: ConflictSubject): unknown {
  if (error instanceof ChordError) return error;
  const f = collect(error);
  // Our own error, wrapped by the driver (pg-pool wraps a failed connect): it already says what happened.
  if (f.chordError !== undefined) return f.chordError;
  const origin = f.origin;
  const detail = innermostMessage(f);
  const cause = { cause: error };

  if (origin?.phase === 'pool-closed') {
    return new BackendUnavailableError(`${operation}: the backend was closed (close() was called); make a new one`, cause);
  }
  if (origin?.phase === 'pool-wait') {
    if (origin.connecting === 0) return new PoolExhaustedError(operation, origin.busy, origin.waitedMs, cause);
    return new BackendUnavailableError(
      `${operation}: the database is unavailable: no connection within ${origin.waitedMs} ms (${origin.connecting} still connecting, ${origin.busy - origin.connecting} busy)`,
      cause,
    );
  }

  if (f.passwordMissing) {
    return new ConfigurationError('password_missing', configurationMessage(operation, 'password_missing', detail), cause);
  }
  const configuration = configurationProblem(f);
  if (configuration !== undefined) {
    return new ConfigurationError(configuration.problem, configurationMessage(operation, configuration.problem, `${configuration.code}: ${detail}`), cause);
  }
  const unavailable = unavailableCode(f);
  if (unavailable !== undefined) {
    return new BackendUnavailableError(`${operation}: the database is unavailable (${unavailable}: ${detail})`, cause);
  }
  if (f.prismaCodes.includes(POOL_TIMEOUT_PRISMA_CODE)) {
    return new BackendUnavailableError(`${operation}: pool exhausted: no connection came free in the Prisma client's pool (${POOL_TIMEOUT_PRISMA_CODE}: ${detail})`, cause);
  }

  const statementOrigin = origin?.phase === 'statement' ? origin : undefined;
  if (f.sqlstates.includes(LOCK_TIMEOUT_SQLSTATE)) {
    const set = statementOrigin?.lockTimeoutMs;
    const ms = set !== undefined && set > 0 ? set : undefined;
    return new TimeoutError(
      'lock',
      ms,
      `${operation}: gave up waiting for a lock another session holds after ${ms === undefined ? 'the lock_timeout set on the driver, role or database' : `lockTimeoutMs (${ms} ms)`} (SQLSTATE ${LOCK_TIMEOUT_SQLSTATE}); nothing was written`,
      cause,
    );
  }
  if (f.sqlstates.includes(STATEMENT_TIMEOUT_SQLSTATE)) {
    const set = statementOrigin?.statementTimeoutMs;
    const ms = set !== undefined && set > 0 ? set : undefined;
    // The same SQLSTATE answers a cancel request: one that came before the limit this backend set was not the timeout.
    if (statementOrigin !== undefined && ms !== undefined && statementOrigin.elapsedMs < ms - 1) {
      return new StatementError(`${operation}: the statement was cancelled by a cancel request (SQLSTATE ${STATEMENT_TIMEOUT_SQLSTATE}: ${detail})`, STATEMENT_TIMEOUT_SQLSTATE, cause);
    }
    return new TimeoutError(
      'statement',
      ms,
      `${operation}: the statement ran past ${ms === undefined ? 'the statement_timeout set on the driver, role or database' : `statementTimeoutMs (${ms} ms)`} and was cancelled (SQLSTATE ${STATEMENT_TIMEOUT_SQLSTATE}); nothing was written`,
      cause,
    );
  }
  if (conflict !== undefined && (f.sqlstates.some((c) => CONFLICT_SQLSTATES.has(c)) || f.kinds.some((k) => CONFLICT_ADAPTER_KINDS.has(k)))) {
    return new VersionConflictError(conflict.contextId, conflict.expectedVersion, undefined, cause);
  }
  if (hasCode(f) || f.names.includes('PrismaClientValidationError')) {
    const sqlstate = f.sqlstates[0];
    const code = sqlstate ?? f.kinds[0] ?? f.prismaCodes[0] ?? f.nodeCodes[0] ?? f.names[0];
    return new StatementError(`${operation}: the database failed the statement (${code}: ${detail})`, sqlstate, cause);
  }
  // No code at all from where only the driver throws: pg's and PGlite's errors without a SQLSTATE
  // are all about the connection (terminated, closed, not queryable, read timeout).
  if (origin !== undefined || f.names.some((n) => n.startsWith('PrismaClient') || n === 'DriverAdapterError')) {
    return new BackendUnavailableError(`${operation}: the database is unavailable (the connection failed: ${detail})`, cause);
  }
  return error;
}
