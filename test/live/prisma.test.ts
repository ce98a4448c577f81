/**
 * Live sync on PostgreSQL: the live conformance section on PrismaBackend with its own listening
 * connection (server) and with PGlite's listen() (the embedded default), then two processes on one
 * server: a write in one reaches a watch in the other, and the listening connection killed with
 * pg_terminate_backend while writes go on loses nothing.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { afterAll, describe, expect, onTestFinished, test } from 'vitest';
import { hasChangeNotifier } from '../../src/backend.js';
import { PrismaBackend, migrate, pglitePool } from '../../src/backends/prisma/index.js';
import { Chord } from '../../src/engine/chord.js';
import { ValidationError } from '../../src/errors.js';
import type { BackendHarness } from '../../src/testing/harness.js';
import { LiveHolder, nextUpdate, runLiveConformance } from '../../src/testing/index.js';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, noServerReason, skipNote } from '../support/targets.js';
import { forTarget } from '../support/named.js';
import { startLineProcess } from './line-process.js';

const WRITER = fileURLToPath(new URL('./fixtures/live-writer.mjs', import.meta.url));
const UPDATE_MS = 15_000;
const server = serverUrl(databaseChoice());
const noServer = noServerReason();

let admin: pg.Pool | undefined;
let pglite: Promise<PGlite> | undefined;
afterAll(async () => {
  await admin?.end();
  if (pglite !== undefined) await (await pglite).close();
});

function adminPool(url: string): pg.Pool {
  admin ??= new pg.Pool({ connectionString: url, max: 2 });
  return admin;
}

function newSchema(): string {
  return `chord_live_${randomBytes(6).toString('hex')}`;
}

const serverSchemas = new WeakMap<PrismaBackend, string>();

function serverHarness(url: string): BackendHarness<PrismaBackend> {
  const schemas = serverSchemas;
  return {
    async makeBackend({ clock }) {
      const schema = newSchema();
      await migrate({ pool: adminPool(url) }, { schema });
      const backend = new PrismaBackend({ connectionString: url, schema, clock, poolSize: 3 });
      schemas.set(backend, schema);
      return backend;
    },
    async dispose(backend) {
      await backend.close();
      await adminPool(url).query(`DROP SCHEMA IF EXISTS "${schemas.get(backend)}" CASCADE`);
    },
  };
}

function pgliteHarness(): BackendHarness<PrismaBackend> {
  const schemas = new WeakMap<PrismaBackend, string>();
  return {
    async makeBackend({ clock }) {
      pglite ??= PGlite.create();
      const db = await pglite;
      const schema = newSchema();
      await migrate({ pool: pglitePool(db) }, { schema });
      const backend = new PrismaBackend({ adapter: new PrismaPGlite(db), listen: db, schema, clock });
      schemas.set(backend, schema);
      return backend;
    },
    async dispose(backend) {
      await backend.close();
      await (await pglite)?.exec(`DROP SCHEMA IF EXISTS "${schemas.get(backend)}" CASCADE`);
    },
  };
}

describe.skipIf(server === undefined)(`live on prisma/postgres (own listening connection)${skipNote(noServer)}`, () => {
  runLiveConformance(forTarget('prisma/postgres {connectionString}, own listening connection'), serverHarness(server ?? ''), { propertyRuns: 15, updateTimeoutMs: UPDATE_MS });
});

describe('live on prisma/pglite (PGlite listen)', () => {
  runLiveConformance(forTarget('prisma/pglite {adapter, listen}'), pgliteHarness(), { propertyRuns: 10, updateTimeoutMs: UPDATE_MS });
});

describe('PrismaBackend change notices: which forms have them', () => {
  test('adapter or prisma without listen: no subscribeChanges (watch polls); listen must be a PGlite and only with those forms', async () => {
    pglite ??= PGlite.create();
    const db = await pglite;
    const plain = new PrismaBackend({ adapter: new PrismaPGlite(db) });
    expect(hasChangeNotifier(plain)).toBe(false);
    const listening = new PrismaBackend({ adapter: new PrismaPGlite(db), listen: db });
    expect(hasChangeNotifier(listening)).toBe(true);
    expect(hasChangeNotifier(new PrismaBackend({ connectionString: 'postgresql://127.0.0.1:1/x' }))).toBe(true);
    for (const [config, argument] of [
      [{ adapter: new PrismaPGlite(db), listen: {} }, 'config.listen'],
      [{ connectionString: 'postgresql://127.0.0.1:1/x', listen: db }, 'config.listen'],
    ] as const) {
      expect(() => new PrismaBackend(config as never)).toThrow(ValidationError);
      try {
        new PrismaBackend(config as never);
      } catch (error) {
        expect((error as ValidationError).argument).toBe(argument);
      }
    }
    await plain.close();
    await listening.close();
  });

  test('an unreachable server: watch rejects with BackendUnavailableError instead of waiting', async () => {
    const backend = new PrismaBackend({ connectionString: 'postgresql://postgres@127.0.0.1:1/none', connectTimeoutMs: 2_000 });
    const watch = new Chord({ backend }).watch('x');
    await expect(watch.next()).rejects.toMatchObject({ code: 'unavailable' });
    await backend.close();
  });
});

/** A writer process on the built package; `write(n)` makes n updates there and resolves with the version reached. */
interface WriterProcess {
  write(count: number): Promise<number>;
  stop(): Promise<void>;
}

async function startWriter(url: string, schema: string, contextId: string): Promise<WriterProcess> {
  const dist = process.env.CHORD_TEST_DIST ?? ((await ensureBuilt()), join(REPO_ROOT, 'dist'));
  const child = await startLineProcess(WRITER, JSON.stringify({ dist, url, schema, contextId }), UPDATE_MS, 'writer process');
  return {
    async write(count) {
      const line = await child.ask(`write ${count}`, 'done');
      const version = Number(line.split(' ')[1]);
      if (!Number.isSafeInteger(version)) throw new Error(`writer process said ${JSON.stringify(line)}`);
      return version;
    },
    stop: () => child.stop(),
  };
}

describe.skipIf(server === undefined)(`two processes on one PostgreSQL${skipNote(noServer)}`, () => {
  const harness = serverHarness(server ?? '');

  async function withTwo(body: (chord: Chord, writer: WriterProcess, schema: string, id: string) => Promise<void>): Promise<void> {
    const backend = await harness.makeBackend({ clock: Date.now });
    const schema = serverSchemas.get(backend) as string;
    const id = `room:${randomBytes(4).toString('hex')}`;
    const writer = await startWriter(server ?? '', schema, id);
    try {
      await body(new Chord({ backend }), writer, schema, id);
    } finally {
      await writer.stop();
      await harness.dispose?.(backend);
    }
  }

  /** Pulls updates into `holder` until it holds `version`. */
  async function reach(watch: AsyncIterator<import('../../src/index.js').LiveUpdate>, holder: LiveHolder, version: number): Promise<void> {
    while (holder.state?.version !== version) holder.apply(await nextUpdate(watch, UPDATE_MS, `version ${version} (holding ${holder.state?.version})`));
  }

  test('a write in one process reaches a watch in the other, one update per write', async () => {
    await withTwo(async (chord, writer, _schema, id) => {
      const watch = chord.watch(id);
      const first = nextUpdate(watch, UPDATE_MS, 'the context created by the other process');
      expect(await writer.write(1)).toBe(1);
      const holder = new LiveHolder();
      holder.apply(await first);
      expect(holder.state?.version).toBe(1);
      for (let n = 2; n <= 4; n++) {
        const pending = nextUpdate(watch, UPDATE_MS, `write ${n} of the other process`);
        expect(await writer.write(1)).toBe(n);
        const update = await pending;
        expect(update.kind).toBe('delta');
        holder.apply(update);
        expect(holder.state?.version).toBe(n);
      }
      expect(holder.state?.context).toEqual((await chord.getContext(id))?.context);
      await watch.return?.();
    });
  }, 60_000);

  test('the listening connection killed (pg_terminate_backend) while writes go on: the watch still ends at the final state, nothing missed', async () => {
    await withTwo(async (chord, writer, schema, id) => {
      const nearbyBackend = new PrismaBackend({ connectionString: server ?? '', schema, poolSize: 1 });
      const nearby = new Chord({ backend: nearbyBackend });
      await nearby.getContext(id); // connected before the first kill
      onTestFinished(() => nearbyBackend.close());
      const killed: number[] = [];
      // The live listening session (a killed one may still show for a moment while it ends).
      const listening = async (): Promise<number> => {
        const deadline = Date.now() + UPDATE_MS;
        for (;;) {
          const { rows } = await adminPool(server ?? '').query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE query = $1 AND NOT (pid = ANY($2::int[]))`,
            [`LISTEN "chord_sync:${schema}"`, killed],
          );
          if (rows.length === 1) return (rows[0] as { pid: number }).pid;
          if (rows.length > 1) throw new Error(`more than one listening session: ${rows.map((r) => r.pid).join(', ')}`);
          if (Date.now() > deadline) throw new Error('no listening session came back');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const watch = chord.watch(id);
      const holder = new LiveHolder();
      const first = nextUpdate(watch, UPDATE_MS, 'the first version');
      await writer.write(1);
      holder.apply(await first);
      const kill = async (label: string): Promise<void> => {
        const pid = await listening();
        const { rows } = await adminPool(server ?? '').query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
        expect(rows[0]?.ok, `${label}: the listening session was killed`).toBe(true);
        killed.push(pid);
      };
      const quietId = `${id}:quiet`;
      await nearbyBackend.setContext(quietId, { round: -1 }, 1);
      const quietWatch = chord.watch(quietId);
      const quietHolder = new LiveHolder();
      await reach(quietWatch, quietHolder, 1);
      let final = 1;
      let lostPokes = 0;
      for (let round = 0; round < 3; round++) {
        // Killed while a run of writes goes on: some pokes are lost, some arrive.
        const writes = writer.write(30);
        await kill(`round ${round}, during writes`);
        final = await writes;
        await reach(watch, holder, final);
        expect(holder.state?.context).toEqual((await chord.getContext(id))?.context);
        // Killed, then written at once from here (the session comes back only after a pause of
        // 50 ms or more) with a statement that pokes as it commits. When no session listens once
        // it returned, its poke is certainly lost: only the resync after re-LISTEN can bring it.
        // It writes a second context, whose only pokes are these: no late poke of the run above
        // can wake its watcher.
        await kill(`round ${round}, before a write`);
        const quietVersion = (await nearbyBackend.setContext(quietId, { round }, round + 2)).version;
        const { rows: back } = await adminPool(server ?? '').query(
          `SELECT 1 FROM pg_stat_activity WHERE query = $1 AND NOT (pid = ANY($2::int[]))`,
          [`LISTEN "chord_sync:${schema}"`, killed],
        );
        if (back.length === 0) lostPokes++;
        await reach(quietWatch, quietHolder, quietVersion);
        expect(quietHolder.state?.context).toEqual({ round });
      }
      // The session came back by itself each time, as a new backend process.
      expect(killed).not.toContain(await listening());
      expect(lostPokes, 'rounds whose write was made while no session listened').toBeGreaterThan(0);
      expect(holder.state?.version).toBe(final);
      await watch.return?.();
      await quietWatch.return?.();
    });
  }, 120_000);
});
