import type { ChordBackend } from '../backend.js';
import { ValidationError } from '../errors.js';
import type { CliIo } from './command.js';
import { loadBackend, loadPostgres } from './load-backend.js';

/** A backend the command opened and must close. */
export type OpenedBackend = ChordBackend & { close(): Promise<void> };

/**
 * The backend `url` names: RedisBackend for `redis://` and `rediss://`, else PrismaBackend, each
 * loaded only then (their drivers are optional peer dependencies; a missing one is named in a
 * ValidationError). A configuration the backend refuses is a usage error: printed as one line, and
 * `undefined` returned (the command exits 2).
 */
export async function openBackend(
  command: string,
  url: string,
  options: { readonly schema?: string | undefined; readonly keyPrefix?: string | undefined },
  io: CliIo,
): Promise<OpenedBackend | undefined> {
  const redis = /^rediss?:\/\//i.test(url);
  const modules = redis ? await loadBackend('--url', 'Redis', () => import('../backends/redis/index.js')) : await loadPostgres('--url');
  try {
    return 'RedisBackend' in modules
      ? new modules.RedisBackend({ url, ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }) })
      : new modules.PrismaBackend({ connectionString: url, ...(options.schema === undefined ? {} : { schema: options.schema }) });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    io.err(`chord-sync ${command}: ${error.message}`);
    return undefined;
  }
}
