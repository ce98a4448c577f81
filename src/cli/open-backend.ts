import type { ChordBackend } from '../backend.js';
import { PrismaBackend } from '../backends/prisma/prisma-backend.js';
import { ValidationError } from '../errors.js';
import type { CliIo } from './command.js';

/** A backend the command opened and must close. */
export type OpenedBackend = ChordBackend & { close(): Promise<void> };

/**
 * The backend `url` names: RedisBackend for `redis://` and `rediss://` (loaded only then: `redis`
 * is an optional peer dependency), else PrismaBackend. A configuration the backend refuses is a
 * usage error: printed as one line, and `undefined` returned (the command exits 2).
 */
export async function openBackend(
  command: string,
  url: string,
  options: { readonly schema?: string | undefined; readonly keyPrefix?: string | undefined },
  io: CliIo,
): Promise<OpenedBackend | undefined> {
  try {
    return /^rediss?:\/\//i.test(url)
      ? new (await import('../backends/redis/index.js')).RedisBackend({ url, ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }) })
      : new PrismaBackend({ connectionString: url, ...(options.schema === undefined ? {} : { schema: options.schema }) });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    io.err(`chord-sync ${command}: ${error.message}`);
    return undefined;
  }
}
