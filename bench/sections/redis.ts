/**
 * RedisBackend against the same Redis commands sent by hand through node-redis, and the engine's
 * write and sync on Redis beside PostgreSQL.
 *
 * The hand-written side sends exactly the commands RedisBackend sends (the same Lua scripts by
 * EVALSHA, the same HMGET) on its own client, with only JSON.stringify/JSON.parse around them (and
 * `randomUUID()`, Node's pooled random source, for the epoch of a context that comes into being): the
 * ratio is what the backend adds (validation, key layout, records, error mapping). Sharing the
 * scripts is what makes it "the same commands": an app writing its own commands would need the same
 * scripts to get the same atomicity.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Chord, type JsonObject } from 'chord-sync';
import { PrismaBackend } from 'chord-sync/prisma';
import { RedisBackend, redisScripts } from 'chord-sync/redis';
import { createClient } from 'redis';
import type { BenchDatabase } from '../lib/database.js';
import { type Case, formatUs, markdownTable, measure, median, ratioTable } from '../lib/measure.js';

/** The Redis the bench uses: BENCH_REDIS_URL, REDIS_URL, or the local one. */
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

// The scripts RedisBackend runs, from its module, so both sides send the same text.
type Scripts = typeof redisScripts;

function hex(id: string): string {
  return Buffer.from(id, 'utf8').toString('hex');
}

/** The nine keys and channel of a context on one Redis (KeyLayout without a Cluster). */
function keysOf(prefix: string, id: string): { keys: string[]; channel: string } {
  const base = `${prefix}:{${hex(id)}}:`;
  const ix = (s: string) => `${prefix}:ix:${s}`;
  return { keys: [`${base}c`, `${base}dv`, `${base}dj`, `${base}dt`, ix('xc'), ix('xct'), ix('xd'), ix('xdn'), ix('xdt')], channel: `${prefix}:n` };
}

class HandWritten {
  readonly #client;
  readonly #prefix: string;
  readonly #sha = new Map<string, string>();
  readonly #scripts: Scripts;

  constructor(url: string, prefix: string, scripts: Scripts) {
    this.#client = createClient({ url });
    this.#client.on('error', () => {});
    this.#prefix = prefix;
    this.#scripts = scripts;
  }

  async connect(): Promise<void> {
    await this.#client.connect();
  }

  async #eval(source: string, id: string, args: string[]): Promise<unknown> {
    let sha = this.#sha.get(source);
    if (sha === undefined) {
      sha = createHash('sha1').update(source).digest('hex');
      this.#sha.set(source, sha);
      await this.#client.sendCommand(['SCRIPT', 'LOAD', source]);
    }
    const { keys, channel } = keysOf(this.#prefix, id);
    return this.#client.sendCommand(['EVALSHA', sha, '9', ...keys, id, 'PUBLISH', channel, ...args]);
  }

  async getContext(id: string): Promise<JsonObject | null> {
    const [json] = (await this.#client.sendCommand(['HMGET', keysOf(this.#prefix, id).keys[0] as string, 'j', 'v', 't', 'e'])) as [string | null];
    return json === null ? null : (JSON.parse(json) as JsonObject);
  }

  setContext(id: string, context: JsonObject, version: number): Promise<unknown> {
    return this.#eval(this.#scripts.SET_CONTEXT, id, [JSON.stringify(context), String(version), String(Date.now()), randomUUID()]);
  }

  writeVersion(id: string, context: JsonObject, delta: JsonObject, expected: number): Promise<unknown> {
    return this.#eval(this.#scripts.WRITE_VERSION, id, [
      JSON.stringify(context), JSON.stringify(delta), String(expected), String(expected + 1), String(Date.now()), expected === 0 ? randomUUID() : '',
    ]);
  }

  async getDeltas(id: string, after: number): Promise<unknown[]> {
    const flat = (await this.#eval(this.#scripts.GET_DELTAS, id, [String(after)])) as string[];
    const out = [];
    for (let i = 0; i < flat.length; i += 3) out.push({ version: Number(flat[i]), insertedAt: Number(flat[i + 1]), delta: JSON.parse(flat[i + 2] as string) });
    return out;
  }

  async readForSync(id: string, client: number): Promise<unknown> {
    const reply = (await this.#eval(this.#scripts.READ_FOR_SYNC, id, [String(client), '100', String(64 * 1024)])) as unknown[];
    const flat = reply[4] as string[];
    const out = [];
    for (let i = 0; i < flat.length; i += 3) out.push({ version: Number(flat[i]), insertedAt: Number(flat[i + 1]), delta: JSON.parse(flat[i + 2] as string) });
    return out;
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}

function seeded(i: number): JsonObject {
  return { id: i, name: `user ${i}`, tags: ['a', 'b', 'c'], profile: { city: 'Lyon', score: i * 3, flags: { beta: true } } };
}

async function deleteWithPrefix(url: string, prefix: string): Promise<void> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1_000 })) if (keys.length > 0) await client.unlink(keys);
  } finally {
    client.destroy();
  }
}

/** RedisBackend ÷ the same commands by hand: a ratio table, as for PrismaBackend vs pg. */
export async function runRedisRatios(rounds: number, iterations: number, log: (line: string) => void): Promise<string> {
  const scripts: Scripts = redisScripts;
  const run = `chordbench-${randomBytes(3).toString('hex')}`;
  const backend = new RedisBackend({ url: BENCH_REDIS_URL, keyPrefix: `${run}:c` });
  const hand = new HandWritten(BENCH_REDIS_URL, `${run}:r`, scripts);
  await hand.connect();
  try {
    const ids = Array.from({ length: 100 }, (_, i) => `ctx-${i}`);
    for (const [i, id] of ids.entries()) {
      for (let v = 0; v < 20; v++) {
        await backend.writeVersion(id, { ...seeded(i), v: v + 1 }, { step: v + 1 }, v);
        await hand.writeVersion(id, { ...seeded(i), v: v + 1 }, { step: v + 1 }, v);
      }
    }
    const versions = { c: new Map(ids.map((id) => [id, 20])), r: new Map(ids.map((id) => [id, 20])) };
    const id = (i: number) => ids[i % ids.length] as string;
    const cases: Case[] = [
      { name: 'getContext', iterations, sides: [{ label: 'RedisBackend', run: (i) => backend.getContext(id(i)) }, { label: 'node-redis', run: (i) => hand.getContext(id(i)) }] },
      {
        name: 'setContext',
        iterations,
        sides: [
          { label: 'RedisBackend', run: (i) => backend.setContext(`set-${i}`, seeded(i), 1) },
          { label: 'node-redis', run: (i) => hand.setContext(`set-${i}`, seeded(i), 1) },
        ],
      },
      {
        name: 'writeVersion (context + delta)',
        iterations,
        sides: [
          {
            label: 'RedisBackend',
            run: async (i) => {
              const v = versions.c.get(id(i)) as number;
              await backend.writeVersion(id(i), { ...seeded(i), v: v + 1 }, { step: v + 1 }, v);
              versions.c.set(id(i), v + 1);
            },
          },
          {
            label: 'node-redis',
            run: async (i) => {
              const v = versions.r.get(id(i)) as number;
              await hand.writeVersion(id(i), { ...seeded(i), v: v + 1 }, { step: v + 1 }, v);
              versions.r.set(id(i), v + 1);
            },
          },
        ],
      },
      {
        name: 'getDeltas (last 5)',
        iterations,
        sides: [
          { label: 'RedisBackend', run: (i) => backend.getDeltas(id(i), (versions.c.get(id(i)) as number) - 5) },
          { label: 'node-redis', run: (i) => hand.getDeltas(id(i), (versions.r.get(id(i)) as number) - 5) },
        ],
      },
      {
        name: 'readForSync (3 behind)',
        iterations,
        sides: [
          { label: 'RedisBackend', run: (i) => backend.readForSync(id(i), (versions.c.get(id(i)) as number) - 3, 100) },
          { label: 'node-redis', run: (i) => hand.readForSync(id(i), (versions.r.get(id(i)) as number) - 3) },
        ],
      },
    ];
    const results = await measure(cases, { rounds, warmupRounds: 1, onRound: (r, n) => log(`RedisBackend vs node-redis: round ${r}/${n}`) });
    return ratioTable(results).table;
  } finally {
    await backend.close();
    await hand.close();
    await deleteWithPrefix(BENCH_REDIS_URL, `${run}:`);
  }
}

/** The engine's updateContext and syncContext (one version behind) on Redis and on PostgreSQL. */
export async function runRedisBesidePostgres(db: BenchDatabase, rounds: number, iterations: number, log: (line: string) => void): Promise<string> {
  const run = `chordbench-${randomBytes(3).toString('hex')}`;
  const schema = 'redis_beside';
  await db.provision(schema);
  const redis = new RedisBackend({ url: BENCH_REDIS_URL, keyPrefix: run });
  const postgres = new PrismaBackend({ connectionString: db.url, schema });
  const engines = [
    { label: 'Redis', chord: new Chord({ backend: redis }) },
    { label: 'PostgreSQL', chord: new Chord({ backend: postgres }) },
  ];
  try {
    const ids = Array.from({ length: 100 }, (_, i) => `room-${i}`);
    for (const { chord } of engines) for (const [i, id] of ids.entries()) await chord.setContext(id, seeded(i));
    const id = (i: number) => ids[i % ids.length] as string;
    let counter = 0;
    const cases: Case[] = [
      {
        name: 'updateContext (one field)',
        iterations,
        sides: engines.map(({ label, chord }) => ({ label, run: (i: number) => chord.updateContext(id(i), { profile: { score: ++counter } }) })),
      },
      {
        name: 'syncContext (1 version behind)',
        iterations,
        sides: engines.map(({ label, chord }) => ({
          label,
          run: async (i: number) => {
            const current = await chord.getContext(id(i));
            return chord.syncContext(id(i), (current?.version ?? 1) - 1);
          },
        })),
      },
      {
        name: 'syncContext (no change)',
        iterations,
        sides: engines.map(({ label, chord }) => ({ label, run: (i: number) => chord.syncContext(id(i), 1_000_000) })),
      },
    ];
    const results = await measure(cases, { rounds, warmupRounds: 1, onRound: (r, n) => log(`engine on Redis vs PostgreSQL: round ${r}/${n}`) });
    const rows = results.map((r) => [r.name, formatUs(r.sides[0]?.medianUs ?? NaN), formatUs(r.sides[1]?.medianUs ?? NaN), `${(median((r.sides[0]?.samplesUs ?? []).map((s, k) => s / ((r.sides[1]?.samplesUs ?? [])[k] ?? NaN)))).toFixed(2)}×`]);
    return markdownTable(['operation', 'Redis µs/op', 'PostgreSQL µs/op', 'Redis ÷ PostgreSQL'], rows, [false, true, true, true]);
  } finally {
    await redis.close();
    await postgres.close();
    await deleteWithPrefix(BENCH_REDIS_URL, `${run}:`);
  }
}
