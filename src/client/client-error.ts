import { ChordError } from '../errors.js';

/**
 * What a client's `onError` is told: a connection that failed or broke, a request the server
 * refused (`status` and the body's `serverCode`), a write whose answer was lost, or a state
 * dropped; the client retries. Also what the promise of a write (`update`, `set`) rejects with:
 * refused by the server (`status` 400, 403, 404, 405, 409, 413… and `serverCode`), its context
 * deleted or made anew before the client saw the write in it, or the client closed (`status`
 * undefined for the last two).
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
