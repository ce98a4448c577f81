import { ValidationError } from '../../errors.js';
import { describe } from '../../validation.js';

/**
 * Default PostgreSQL schema of chord-sync's tables and of its migration history: its own, so an
 * app's `public` schema and its `_prisma_migrations` never see them (as pg-boss keeps `pgboss`).
 */
export const DEFAULT_SCHEMA = 'chord';

/** The PostgreSQL identifier length limit (NAMEDATALEN - 1 bytes). */
const MAX_IDENTIFIER_BYTES = 63;

/** Throws `ValidationError` naming `argument` unless `value` can be a PostgreSQL schema name. */
export function validateSchemaName(value: unknown, argument: string): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.includes('\u0000') || Buffer.byteLength(value) > MAX_IDENTIFIER_BYTES) {
    throw new ValidationError(argument, `must be a PostgreSQL schema name (1 to ${MAX_IDENTIFIER_BYTES} bytes), got ${describe(value)}`);
  }
}

/**
 * Parses a PostgreSQL URL, saying so (with `ValidationError` naming `argument`) when it does not
 * parse, rather than letting the driver try to connect to a host named after a fragment of it.
 */
export function parseConnectionUrl(url: string, argument: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ValidationError(argument, `is not a URL (expected postgresql://user:password@host:5432/database), got ${describe(redact(url))}`);
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:' && parsed.protocol !== 'socket:') {
    throw new ValidationError(argument, `must be a postgresql:// URL, got one starting ${JSON.stringify(parsed.protocol)}`);
  }
  return parsed;
}

function redact(url: string): string {
  // The text did not parse, so the password cannot be picked out exactly: hide everything before an @.
  const at = url.lastIndexOf('@');
  return at === -1 ? url : `***${url.slice(at)}`;
}

/**
 * The schema a connection URL names with Prisma's `?schema=` parameter, or undefined; and the URL
 * without that parameter (pg does not know it).
 */
export function splitSchemaParam(url: string, argument: string): { url: string; schema: string | undefined } {
  const parsed = parseConnectionUrl(url, argument);
  const schema = parsed.searchParams.get('schema');
  if (schema === null) return { url, schema: undefined };
  validateSchemaName(schema, `${argument} ?schema=`);
  parsed.searchParams.delete('schema');
  return { url: parsed.toString(), schema };
}

/**
 * The schema to use: the one given as an option, else the URL's `?schema=`, else
 * {@link DEFAULT_SCHEMA}. Both given and different: `ValidationError` (neither is silently ignored).
 */
export function resolveSchema(option: string | undefined, fromUrl: string | undefined, argument: string): string {
  if (option !== undefined && fromUrl !== undefined && option !== fromUrl) {
    throw new ValidationError(argument, `is ${JSON.stringify(option)} but the URL says ?schema=${fromUrl}; give one, or the same in both`);
  }
  return option ?? fromUrl ?? DEFAULT_SCHEMA;
}
