/** The `code` every chord-sync error carries, one per error class. */
export type ChordErrorCode = 'not_found' | 'conflict' | 'invalid_argument' | 'unavailable';

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
    options?: { cause?: unknown },
  ) {
    super(
      `version conflict on context ${JSON.stringify(contextId)}: expected version ${expectedVersion}` +
        (actualVersion === undefined ? '' : `, found ${actualVersion}`),
      options,
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

/** The storage could not be reached or refused the connection; the operation may be retried. */
export class BackendUnavailableError extends ChordError {
  readonly code = 'unavailable' as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
