import { ValidationError } from '../errors.js';

/**
 * The optional peer dependencies a backend may need, each with the install line that brings it
 * (with what that backend needs beside it). chord-sync's CLI loads a backend only when a command
 * needs it, so `--help`, `--version` and `serve` (memory) work with chord-sync alone.
 */
const INSTALL_HINTS: Readonly<Record<string, string>> = {
  pg: 'npm install pg @prisma/client',
  '@prisma/client': 'npm install pg @prisma/client',
  '@prisma/adapter-pg': 'npm install pg @prisma/client @prisma/adapter-pg',
  redis: 'npm install redis',
  '@electric-sql/pglite': 'npm install @electric-sql/pglite pglite-prisma-adapter',
  'pglite-prisma-adapter': 'npm install @electric-sql/pglite pglite-prisma-adapter',
};

/** The package name in Node's "Cannot find package 'x'" / "Cannot find module 'x'", or undefined. */
export function missingPackage(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const match = /Cannot find (?:package|module) '([^']+)'/.exec((error as Error).message);
  const specifier = match?.[1];
  if (specifier === undefined || specifier.startsWith('.') || specifier.startsWith('/')) return undefined;
  // '@prisma/client/runtime/client' → '@prisma/client'; 'pg/lib/x' → 'pg'.
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/**
 * Runs `load` (a dynamic import of a backend); when it fails because an optional peer dependency is
 * not installed, throws a ValidationError naming `argument` (what asked for that backend), the
 * package, and the command that installs it. Any other failure is rethrown as it is.
 */
export async function loadBackend<T>(argument: string, what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const name = missingPackage(error);
    const hint = name === undefined ? undefined : INSTALL_HINTS[name];
    if (name === undefined || hint === undefined) throw error;
    throw new ValidationError(argument, `${what} needs the package ${name}, which is not installed beside chord-sync; install it with \`${hint}\``, { cause: error });
  }
}

/** chord-sync's PostgreSQL backend (PrismaBackend, migrate), loaded on first use. */
export function loadPostgres(argument: string): Promise<typeof import('../backends/prisma/index.js')> {
  return loadBackend(argument, 'PostgreSQL', () => import('../backends/prisma/index.js'));
}
