/**
 * Which PostgreSQL the tests use, decided once per run in the vitest globalSetup
 * (test/support/global-setup.ts) and handed to every test file through `inject`:
 *
 * 1. `DATABASE_URL` when set: a fresh database `chord_test_<random>` is created on that server for
 *    the run and dropped at the end;
 * 2. else a testcontainers PostgreSQL when a Docker engine answers (image `CHORD_TEST_POSTGRES_IMAGE`,
 *    default `postgres:15-alpine`; CI builds its own, see scripts/ci-postgres-image.sh);
 * 3. else none: the Prisma tests run on in-process PGlite, directly (the `{ adapter }` path) and
 *    over its wire protocol (the `{ connectionString }` path, see pglite-socket.ts); a test that
 *    needs a real server is reported as skipped with `reason`.
 *
 * `CHORD_TEST_DATABASE=container` (what .ci/run sets) demands the container: DATABASE_URL is
 * ignored and a container that does not start fails the run instead of falling back to PGlite.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** What the globalSetup chose. `url` is the run's own database. */
export type DatabaseChoice =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'container'; readonly url: string; readonly image: string }
  | { readonly kind: 'pglite'; readonly reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    chordDatabase: DatabaseChoice;
  }
}

/** How long to wait for a Docker engine to answer before settling for PGlite. */
const DOCKER_PROBE_TIMEOUT_MS = 5_000;
/** How long a container may take to pull and start. */
const CONTAINER_START_TIMEOUT_MS = 120_000;
/** The image the container route starts when CHORD_TEST_POSTGRES_IMAGE does not name one. */
const DEFAULT_POSTGRES_IMAGE = 'postgres:15-alpine';
/** Every container the suite starts carries this label, so CI can remove them by label whatever happens. */
export const CONTAINER_LABEL = 'chord-sync.ci';

/** `url` with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Creates `chord_test_<random>` through the server at `adminUrl`; returns its URL and a function that drops it. */
export async function createRunDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `chord_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
      await client.connect();
      try {
        // FORCE ends sessions a crashed test file left open, so nothing is left behind.
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Starts a PostgreSQL container if a Docker engine answers; else why not (the probe's own error). */
async function tryStartContainer(env: NodeJS.ProcessEnv): Promise<{ url: string; image: string; stop: () => Promise<void> } | { failed: string }> {
  let step = 'docker probe';
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await timeout(getContainerRuntimeClient(), DOCKER_PROBE_TIMEOUT_MS, step);
    const image = env.CHORD_TEST_POSTGRES_IMAGE || DEFAULT_POSTGRES_IMAGE;
    step = `postgres container ${image}`;
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await timeout(
      new PostgreSqlContainer(image).withLabels({ [CONTAINER_LABEL]: String(process.pid) }).start(),
      CONTAINER_START_TIMEOUT_MS,
      step,
    );
    // stop() removes the container and its volumes (testcontainers' default).
    return { url: container.getConnectionUri(), image, stop: async () => void (await container.stop({ timeout: 10_000 })) };
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    return { failed: `${step} failed: ${message.slice(0, 200)}` };
  }
}

/** Decides the database for this run; the returned `release` undoes whatever was created. */
export async function chooseDatabase(env: NodeJS.ProcessEnv = process.env): Promise<{ choice: DatabaseChoice; release: () => Promise<void> }> {
  const demanded = env.CHORD_TEST_DATABASE;
  if (demanded !== undefined && demanded !== '' && demanded !== 'container') {
    throw new Error(`CHORD_TEST_DATABASE=${demanded}: the only value is "container" (unset it for DATABASE_URL, else a container, else PGlite)`);
  }
  const adminUrl = env.DATABASE_URL;
  if (demanded !== 'container' && adminUrl !== undefined && adminUrl !== '') {
    const db = await createRunDatabase(adminUrl);
    return { choice: { kind: 'url', url: db.url }, release: db.drop };
  }
  const container = await tryStartContainer(env);
  if ('url' in container) {
    return { choice: { kind: 'container', url: container.url, image: container.image }, release: container.stop };
  }
  if (demanded === 'container') throw new Error(`CHORD_TEST_DATABASE=container: ${container.failed}`);
  return { choice: { kind: 'pglite', reason: `no DATABASE_URL; ${container.failed}` }, release: async () => {} };
}

/** The server's URL of the run's database, or undefined on a PGlite-only run. */
export function serverUrl(choice: DatabaseChoice): string | undefined {
  return choice.kind === 'pglite' ? undefined : choice.url;
}
