/**
 * `npm run bench [-- flags]`: chord-sync against hand-written references, printed as Markdown
 * tables (what docs/benchmarks.md quotes).
 *
 *   (no flag)            every section: ratios, memory, scale, cleanup, memory scale
 *   --ratios             only the ratio tables (PrismaBackend vs pg, MemoryBackend vs Map)
 *   --scale              only the scale and cleanup sections
 *   --deltas             only the delta functions (calculateDelta, applyDelta, bytes) against their peers
 *   --memory-scale       only MemoryBackend's write cost at 400k vs 10k contexts and its event-loop stalls
 *   --redis              only RedisBackend vs the same commands by hand, and the engine on Redis beside PostgreSQL
 *   --notify             only what change notices cost 16 concurrent writers (NOTIFY forms side by side)
 *   --fanout             only the fan-out: 1,000 SSE clients on one context written 10×/s, vs a whole-context broadcaster
 *   --writes             only client writes: a client's update() → every other client applied it, at 100 and 1,000 clients (in child processes), beside the read-only fan-out
 *   --hot-context        only 500 concurrent updates of one context: before (no per-context queue) and after
 *   --sync-fanout        only sync at fan-out scale: 1,000 and 10,000 clients syncing one 69 KiB context written 10×/s, vs lean references; and the no-change sync
 *   --connections        only many contexts per client: 1,000 clients × 10 contexts, one ChordConnection stream per client vs a ChordClient
 *                        per context, clients in 4 processes (needs `ulimit -n 20000`); --connection-clients N changes the 1,000
 *                        (the three may be combined: the flags given choose the sections)
 *   --rounds N           timed rounds per table (default 21; each after 1 untimed warm-up round)
 *   --iterations N       calls per batch for database operations (default 100)
 *   --no-prisma-client   leave out the informational "via Prisma" column
 *   --only TEXT          only the ratio-table operations whose name contains TEXT (for working on one)
 *   --large-contexts N   contexts of the large scale table and of the cleanup tables, × 100 deltas (default 10000)
 *
 * The database is `chord_bench_<random>` on BENCH_DATABASE_URL, DATABASE_URL, or
 * postgres://postgres@127.0.0.1:5432/postgres; it is dropped at the end, on error and on Ctrl-C.
 */
import * as os from 'node:os';
import { type BenchDatabase, DEFAULT_ADMIN_URL, analyze, createBenchDatabase } from './lib/database.js';
import { measure, ratioTable } from './lib/measure.js';
import { memoryCases } from './sections/memory.js';
import { backendCases, makeRatioSides, seedBase } from './sections/ratios.js';
import { DEFAULT_MEMORY_SCALE_SIZES, runMemoryStalls, runMemoryWrites } from './sections/memory-scale.js';
import { runCleanup, runScale } from './sections/scale.js';
import { runDeltas } from './sections/deltas.js';
import { DEFAULT_FANOUT, runFanout } from './sections/fanout.js';
import { DEFAULT_WRITES_BENCH, runWritesBench } from './sections/writes.js';
import { DEFAULT_NOTIFY, runNotify } from './sections/notify.js';
import { DEFAULT_SYNC_FANOUT, runSyncFanout } from './sections/sync-fanout.js';
import { runHotContext } from './sections/hot-context.js';
import { DEFAULT_CONNECTIONS, runConnections } from './sections/connections.js';
import { PrismaBackend } from 'chord-sync/prisma';
import { BENCH_REDIS_URL, runRedisBesidePostgres, runRedisRatios } from './sections/redis.js';

interface Flags {
  ratios: boolean;
  scale: boolean;
  deltas: boolean;
  memoryScale: boolean;
  fanout: boolean;
  writes: boolean;
  syncFanout: boolean;
  hotContext: boolean;
  connections: boolean;
  connectionClients: number;
  notify: boolean;
  redis: boolean;
  rounds: number;
  iterations: number;
  prismaClient: boolean;
  largeContexts: number;
  only: string | undefined;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = { ratios: true, scale: true, deltas: true, memoryScale: true, fanout: true, writes: true, syncFanout: true, hotContext: true, connections: true, connectionClients: DEFAULT_CONNECTIONS.clients, notify: true, redis: true, rounds: 21, iterations: 100, prismaClient: true, largeContexts: 10_000, only: undefined };
  let onlyRatios = false;
  let onlyScale = false;
  let onlyDeltas = false;
  let onlyMemoryScale = false;
  let onlyRedis = false;
  let onlyFanout = false;
  let onlyWrites = false;
  let onlyNotify = false;
  let onlySyncFanout = false;
  let onlyHotContext = false;
  let onlyConnections = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const number = (): number => {
      const value = Number(argv[++i]);
      if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${arg} needs an integer ≥ 1`);
      return value;
    };
    switch (arg) {
      case '--ratios': onlyRatios = true; break;
      case '--scale': onlyScale = true; break;
      case '--deltas': onlyDeltas = true; break;
      case '--memory-scale': onlyMemoryScale = true; break;
      case '--fanout': onlyFanout = true; break;
      case '--writes': onlyWrites = true; break;
      case '--notify': onlyNotify = true; break;
      case '--sync-fanout': onlySyncFanout = true; break;
      case '--hot-context': onlyHotContext = true; break;
      case '--connections': onlyConnections = true; break;
      case '--connection-clients': flags.connectionClients = number(); break;
      case '--redis': onlyRedis = true; break;
      case '--rounds': flags.rounds = number(); break;
      case '--iterations': flags.iterations = number(); break;
      case '--no-prisma-client': flags.prismaClient = false; break;
      case '--only': flags.only = argv[++i]; break;
      case '--large-contexts': flags.largeContexts = number(); break;
      default: throw new Error(`unknown flag ${arg} (see bench/run.ts for the list)`);
    }
  }
  if (onlyRatios || onlyScale || onlyMemoryScale || onlyDeltas || onlyFanout || onlyWrites || onlyRedis || onlyNotify || onlySyncFanout || onlyHotContext || onlyConnections) {
    flags.syncFanout = onlySyncFanout;
    flags.connections = onlyConnections;
    flags.hotContext = onlyHotContext;
    flags.notify = onlyNotify;
    flags.redis = onlyRedis;
    flags.ratios = onlyRatios;
    flags.scale = onlyScale;
    flags.memoryScale = onlyMemoryScale;
    flags.deltas = onlyDeltas;
    flags.fanout = onlyFanout;
    flags.writes = onlyWrites;
  }
  return flags;
}

function log(line: string): void {
  process.stderr.write(`  · ${line}\n`);
}

async function ratioSection(db: BenchDatabase, flags: Flags): Promise<string> {
  const schema = 'ratios';
  await db.provision(schema);
  const { sides, close } = makeRatioSides(db.url, schema, flags.prismaClient);
  try {
    await seedBase(db.admin, schema, sides.map((s) => s.prefix));
    // Statistics, as a table in use has: without them the planner guesses 200 ids and may hash-aggregate the whole table.
    await analyze(db.admin, schema);
    const cases = backendCases(sides, db.admin, schema, flags.iterations).filter((c) => flags.only === undefined || c.name.includes(flags.only));
    const results = await measure(cases, {
      rounds: flags.rounds,
      warmupRounds: 1,
      onRound: (r, n) => log(`PrismaBackend vs pg: round ${r}/${n}`),
    });
    return ratioTable(results).table;
  } finally {
    await close();
  }
}

async function memorySection(flags: Flags): Promise<string> {
  const cases = await memoryCases(flags.iterations * 20);
  const results = await measure(cases, { rounds: flags.rounds, warmupRounds: 1 });
  return ratioTable(results).table;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_ADMIN_URL;
  const db = await createBenchDatabase(adminUrl);
  const drop = () => db.drop().catch((error: unknown) => log(`could not drop ${db.name}: ${String(error)}`));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: dropping ${db.name}`);
      void drop().finally(() => process.exit(130));
    });
  }
  const started = performance.now();
  const out = (text: string) => process.stdout.write(`${text}\n`);
  try {
    const { rows } = await db.admin.query<{ server_version: string }>('SHOW server_version');
    out(`# chord-sync bench, ${new Date().toISOString()}`);
    out(
      `Node ${process.version}, ${os.cpus().length} CPU (${os.cpus()[0]?.model.trim() ?? '?'}), ` +
        `PostgreSQL ${rows[0]?.server_version ?? '?'} at ${new URL(adminUrl).host}; ${flags.rounds} rounds, median.\n`,
    );
    if (flags.ratios) {
      out(`## PrismaBackend ({ connectionString }) vs hand-written pg, ${flags.iterations} calls per batch\n`);
      out(await ratioSection(db, flags));
      out('\n† not in the geometric mean.\n');
      out(`## MemoryBackend vs plain Map, ${flags.iterations * 20} calls per batch\n`);
      out(await memorySection(flags));
      out('');
    }
    if (flags.scale) {
      const large = flags.largeContexts;
      out(`## Scale: 100 contexts × 100 deltas vs ${large} contexts × 100 deltas\n`);
      out(await runScale(db, { smallContexts: 100, largeContexts: large }, flags.rounds, log));
      out(`\n## Cleanup: ${large * 100} expired deltas; ${large * 50} deltas beyond the threshold\n`);
      out(await runCleanup(db, large, 10_000, log));
      out('');
    }
    if (flags.memoryScale) {
      const sizes = DEFAULT_MEMORY_SCALE_SIZES;
      out(`## MemoryBackend: a write at ${sizes.largeContexts / 1000}k contexts vs at ${sizes.smallContexts / 1000}k\n`);
      out(await runMemoryWrites(sizes, flags.rounds, log));
      out(`\n## MemoryBackend: event-loop stalls during long calls\n`);
      out(await runMemoryStalls(sizes, log));
      out('');
    }
    if (flags.redis) {
      out(`## RedisBackend vs the same commands by hand on node-redis (${BENCH_REDIS_URL}), ${flags.iterations} calls per batch\n`);
      out(await runRedisRatios(flags.rounds, flags.iterations, log));
      out(`\n## The engine on Redis beside PostgreSQL, ${flags.iterations} calls per batch\n`);
      out(await runRedisBesidePostgres(db, flags.rounds, flags.iterations, log));
      out('');
    }
    if (flags.deltas) {
      out('## Delta functions, per call, side by side\n');
      out(await runDeltas(flags.rounds, log));
      out('');
    }
    if (flags.notify) {
      const n = DEFAULT_NOTIFY;
      out(`## Change notices: ${n.writers} concurrent version writers, one context each, one session listening; ${n.rounds} rounds, median\n`);
      out(
        await runNotify(
          db,
          (url, schema, poolSize) => {
            const backend = new PrismaBackend({ connectionString: url, schema, poolSize });
            return { writeVersion: (id, context, delta, expected) => backend.writeVersion(id, context as never, delta as never, expected), close: () => backend.close() };
          },
          n,
          log,
        ),
      );
      out('');
    }
    if (flags.fanout) {
      const f = DEFAULT_FANOUT;
      out(`## Fan-out: ${f.clients} SSE clients on one context, ${f.rate} writes/s, ${f.writes} writes × ${f.rounds} rounds, median\n`);
      out(await runFanout(f, log));
      out('');
    }
    if (flags.writes) {
      const w = DEFAULT_WRITES_BENCH;
      out(`## Client writes: a client's update() → every other client applied it, beside the server's own write; clients in ${w.processes} child processes, ${w.rate} writes/s, ${w.writes} writes × ${w.rounds} rounds, median\n`);
      out(await runWritesBench(w, log));
      out('');
    }
    if (flags.syncFanout) {
      const f = { ...DEFAULT_SYNC_FANOUT, noChangeRounds: flags.rounds };
      out(`## Sync at fan-out scale: clients syncing one 69 KiB context written ${f.rate}×/s, ${f.writes} writes × ${f.rounds} rounds, ${f.concurrency} syncs in flight, median\n`);
      out(await runSyncFanout(db, f, log));
      out('');
    }
    if (flags.hotContext) {
      out('## Hot context: 500 concurrent updateContext calls on one context from one process\n');
      await db.provision('hot');
      out(await runHotContext(db.url, 'hot'));
      out('');
    }
    if (flags.connections) {
      const c = { ...DEFAULT_CONNECTIONS, clients: flags.connectionClients };
      out(
        `## Many contexts per client: ${c.clients} clients × ${c.contextsPerClient} contexts (${c.contexts} contexts, ${(c.clients * c.contextsPerClient) / c.contexts} followers each), ` +
          `clients in ${c.processes} processes, ${c.writes} updates at ${c.rate}/s; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the start\n`,
      );
      out(await runConnections(c, log));
      out('');
    }
    out(`(whole run: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
  } finally {
    await drop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
