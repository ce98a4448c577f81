import { ChordError } from '../errors.js';

/**
 * What a client's `onError` is told: a connection that failed or broke, a request the server
 * refused (`status` and the body's `serverCode`), or a state dropped. The client retries.
 */
export class ChordClientError extends ChordError {
  readonly code = 'unavailable' as const;
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** The `error.code` of the server's answer (`forbidden`, `invalid_argument`…), when it gave one. */
  readonly serverCode: string | undefined;

  constructor(message: string, status?: number, serverCode?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.serverCode = serverCode;
  }
}
