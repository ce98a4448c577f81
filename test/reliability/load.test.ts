// Load: 64 concurrent writers over 16 contexts through one PrismaBackend (one pool) and one
// engine, on the run's PostgreSQL (DATABASE_URL) or else a disposable server. Nothing is lost or
// duplicated, and every context's deltas replay from {} to the context.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { Chord } from '../../src/engine/index.js';
import { VersionConflictError } from '../../src/errors.js';
import type { DisposablePostgres } from '../support/disposable-postgres.js';
import { expectWholeHistory, freshSchema, missingBinaries, runServerUrl, startServer } from './support.js';

const WRITERS = 64;
const CONTEXTS = 16;
const WRITES_PER_WRITER = 50;
/** Times a writer tries one write whose engine retries all lost, before the test fails. */
const MAX_TRIES_PER_WRITE = 20;
/** Share of the writes that may surface a VersionConflictError past the engine's retries. */
const MAX_SURFACED_SHARE = 0.05;

const runUrl = runServerUrl();
const noServer = runUrl === undefined && missingBinaries !== undefined;

describe.skipIf(noServer)(`load${noServer ? ` (skipped: no DATABASE_URL and ${missingBinaries})` : ''}`, () => {
  let server: DisposablePostgres | undefined;
  let url: string;

  beforeAll(async () => {
    if (runUrl !== undefined) {
      url = runUrl;
    } else {
      server = await startServer();
      url = (server as DisposablePostgres).url;
    }
  });

  afterAll(() => {
    server?.dispose();
  });

  test(`${WRITERS} writers × ${WRITES_PER_WRITER} updates over ${CONTEXTS} contexts, one backend and pool: every write stored once, histories replay`, async () => {
    const { schema, drop } = await freshSchema(url);
    const backend = new PrismaBackend({ connectionString: url, schema });
    try {
      const chord = new Chord({ backend });
      for (let c = 0; c < CONTEXTS; c++) await chord.setContext(`ctx${c}`, { name: `ctx${c}` });
      let gaveUp = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, i) => {
          const contextId = `ctx${i % CONTEXTS}`;
          const key = `w${i}`;
          for (let n = 1, tries = 1; n <= WRITES_PER_WRITER; tries++) {
            try {
              // The writer's own counter: its value is how many of its writes were stored.
              await chord.updateContext(contextId, { [key]: n });
              n++;
              tries = 0;
            } catch (error) {
              // Only a lost race past the engine's own retries may fail here; it wrote nothing, so
              // try again, a bounded number of times: a write that never gets through is a failure.
              if (!(error instanceof VersionConflictError)) throw error;
              gaveUp++;
              if (tries >= MAX_TRIES_PER_WRITE) throw new Error(`w${i}'s write ${n} lost ${tries} races in a row past the engine's retries`, { cause: error });
            }
          }
        }),
      );
      // The engine's retries absorb almost every lost race: at most a few percent of the writes
      // may surface one to the caller.
      expect(gaveUp, 'writes that surfaced a conflict past the engine retries').toBeLessThanOrEqual(WRITERS * WRITES_PER_WRITER * MAX_SURFACED_SHARE);
      const elapsedMs = performance.now() - started;

      const writersPerContext = WRITERS / CONTEXTS;
      for (let c = 0; c < CONTEXTS; c++) {
        const contextId = `ctx${c}`;
        const record = await chord.getContext(contextId);
        for (let i = c; i < WRITERS; i += CONTEXTS) {
          expect(record?.context[`w${i}`], `w${i}'s counter`).toBe(WRITES_PER_WRITER);
        }
        // Version 1 is the creation; each stored update is exactly one more version.
        expect(record?.version).toBe(1 + writersPerContext * WRITES_PER_WRITER);
        await expectWholeHistory(backend, contextId);
      }
      const writes = WRITERS * WRITES_PER_WRITER;
      console.log(
        `reliability figures: load: ${JSON.stringify({
          database: runUrl !== undefined ? 'DATABASE_URL' : 'disposable',
          writes,
          elapsedMs: Math.round(elapsedMs),
          writesPerSecond: Math.round(writes / (elapsedMs / 1000)),
          engineGaveUpAfterRetries: gaveUp,
        })}`,
      );
    } finally {
      await backend.close();
      await drop();
    }
  });
});
