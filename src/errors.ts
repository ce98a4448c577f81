/** The `code` every chord-sync error carries, one per error class. */
export type ChordErrorCode =
  | 'not_found'
  | 'conflict'
  | 'invalid_argument'
  | 'unavailable'
  | 'misconfigured'
  | 'timeout'
  | 'statement_failed'
  | 'corrupt_data'
  | 'callback_failed';

/** The base of every error chord-sync throws. The driver's own error, if any, is `cause`. */
export abstract class ChordError extends Error {
  abstract readonly code: ChordErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A context that the operation needs does not exist. */
export class NotFoundError extends ChordError {
  readonly code = 'not_found' as const;
  readonly contextId: string;

  constructor(contextId: string, message = `context ${JSON.stringify(contextId)} not found`) {
    super(message);
    this.contextId = contextId;
  }
}

/** The stored version is not the one the write expected; nothing was written. */
export class VersionConflictError extends ChordError {
  readonly code = 'conflict' as const;
  readonly contextId: string;
  readonly expectedVersion: number;
  /** The version found in storage, when known (0: no context). */
  readonly actualVersion: number | undefined;

  constructor(
    contextId: string,
    expectedVersion: number,
    actualVersion?: number,
    options?: { cause?: unknown; message?: string },
  ) {
    super(
      options?.message ??
        `version conflict on context ${JSON.stringify(contextId)}: expected version ${expectedVersion}` +
          (actualVersion === undefined ? '' : `, found ${actualVersion}`),
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.contextId = contextId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** An argument is not acceptable; `argument` names it (e.g. `contextId`, `context.a.b`). */
export class ValidationError extends ChordError {
  readonly code = 'invalid_argument' as const;
  readonly argument: string;

  constructor(argument: string, problem: string, options?: { cause?: unknown }) {
    super(`invalid ${argument}: ${problem}`, options);
    this.argument = argument;
  }
}

/**
 * The storage could not be reached, dropped the connection, or had no connection free in time;
 * the operation may be retried.
 */
export class BackendUnavailableError extends ChordError {
  readonly code = 'unavailable' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Every connection of the backend's pool was busy for the whole wait while the database itself
 * answers: more calls at once than `poolSize`, or some held long (a lock). Retrying later may work;
 * so may a larger pool. A `BackendUnavailableError` (code `unavailable`).
 */
export class PoolExhaustedError extends BackendUnavailableError {
  /** Connections the pool had open and checked out when the wait ended. */
  readonly busy: number;
  /** How long the call waited for one, in ms. */
  readonly waitedMs: number;

  constructor(operation: string, busy: number, waitedMs: number, options?: { cause?: unknown }) {
    super(
      `${operation}: pool exhausted (${busy} connection${busy === 1 ? '' : 's'} busy): no connection came free within ${waitedMs} ms; ` +
        'the database itself may be fine: raise poolSize or connectTimeoutMs, or find what holds the connections (a lock, a slow statement)',
      options,
    );
    this.busy = busy;
    this.waitedMs = waitedMs;
  }
}

/** What is wrong in a {@link ConfigurationError}. */
export type ConfigurationProblem =
  /** The server refused the password (SQLSTATE 28P01). */
  | 'authentication_failed'
  /** The server asks for a password and none was given. */
  | 'password_missing'
  /** The role does not exist or may not connect (28000). */
  | 'access_denied'
  /** The database named in the URL does not exist (3D000). */
  | 'database_missing'
  /** The role may not use chord-sync's tables (42501). */
  | 'permission_denied'
  /** chord-sync's schema, tables or columns are missing: not migrated, or migrated by an older version (42P01, 3F000, 42703). */
  | 'not_provisioned';

/**
 * The database answers but is not set up for this call: a wrong password, an unknown database or
 * role, tables not migrated. Retrying will not help; the message says what to fix.
 */
export class ConfigurationError extends ChordError {
  readonly code = 'misconfigured' as const;
  readonly problem: ConfigurationProblem;

  constructor(problem: ConfigurationProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.problem = problem;
  }
}

/**
 * A statement ran past the backend's `statementTimeoutMs`, or waited past `lockTimeoutMs` for a
 * row another session holds; the database cancelled it and nothing of it was written.
 */
export class TimeoutError extends ChordError {
  readonly code = 'timeout' as const;
  /** Which limit fired: `statement` (statement_timeout, SQLSTATE 57014) or `lock` (lock_timeout, 55P03). */
  readonly timeout: 'statement' | 'lock';
  /** The limit in ms, when the backend set it (`{ connectionString }`); undefined when the caller's driver did. */
  readonly timeoutMs: number | undefined;

  constructor(timeout: 'statement' | 'lock', timeoutMs: number | undefined, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.timeout = timeout;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The database refused or failed one statement for a reason that is neither the connection, the
 * configuration nor a timeout (a constraint, a data error…): retrying the same call will fail
 * the same way. `sqlstate` is PostgreSQL's code when the driver gave one.
 */
export class StatementError extends ChordError {
  readonly code = 'statement_failed' as const;
  readonly sqlstate: string | undefined;

  constructor(message: string, sqlstate: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.sqlstate = sqlstate;
  }
}

/**
 * Stored data that chord-sync did not write: a context that is not a JSON object, a delta that
 * is not a delta. Names the context and the version of the bad row; `what` is `context` or `delta`.
 */
export class CorruptDataError extends ChordError {
  readonly code = 'corrupt_data' as const;
  readonly contextId: string;
  /** The version of the bad row, when known. */
  readonly version: number | undefined;
  readonly what: 'context' | 'delta';

  constructor(contextId: string, version: number | undefined, what: 'context' | 'delta', problem: string, options?: { cause?: unknown }) {
    super(
      `corrupt ${what} stored for context ${JSON.stringify(contextId)}${version === undefined ? '' : ` at version ${version}`}: ${problem}`,
      options,
    );
    this.contextId = contextId;
    this.version = version;
    this.what = what;
  }
}

/**
 * A function the application gave the engine (`exportContext`, `contextProvider`) threw or
 * returned something unusable; its error is `cause`.
 */
export class CallbackError extends ChordError {
  readonly code = 'callback_failed' as const;
  /** The option name of the callback: `exportContext` or `contextProvider`. */
  readonly callback: string;
  readonly contextId: string;

  constructor(callback: string, contextId: string, problem: string, options?: { cause?: unknown }) {
    super(`${callback} failed for context ${JSON.stringify(contextId)}: ${problem}`, options);
    this.callback = callback;
    this.contextId = contextId;
  }
}
