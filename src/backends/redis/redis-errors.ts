import { BackendUnavailableError, ChordError } from '../../errors.js';

/** The first word of a Redis error reply (`NOSCRIPT`, `CLUSTERDOWN`, …), or `''`. */
export function replyCode(error: unknown): string {
  if (!(error instanceof Error)) return '';
  return /^[A-Z]+(?=\s|$)/.exec(error.message)?.[0] ?? '';
}

/** True when a script could not run because this node no longer serves a slot it was sent for. */
export function isStaleTopology(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return /MOVED|ASK|non local key|CLUSTERDOWN|TRYAGAIN|READONLY|MASTERDOWN/i.test(error.message);
}

/**
 * Turns what node-redis threw into a chord-sync error, the original kept as `cause`: everything
 * the driver reports (no connection, a timeout, a refused or failed command) is a
 * `BackendUnavailableError` naming the operation; a `ChordError` passes through unchanged.
 */
export function mapRedisError(error: unknown, operation: string): unknown {
  if (error instanceof ChordError) return error;
  const message = error instanceof Error ? error.message.split('\n')[0] || error.name : String(error);
  const what = replyCode(error) === '' ? 'Redis is unavailable' : 'Redis failed the command';
  return new BackendUnavailableError(`${operation}: ${what} (${message})`, { cause: error });
}
