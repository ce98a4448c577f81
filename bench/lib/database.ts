/**
 * The bench's own database: `chord_bench_<random>` on the server of `BENCH_DATABASE_URL`,
 * `DATABASE_URL`, or the local default, created at start and dropped at the end (also on Ctrl-C).
 * Seeding is set-based SQL (generate_series), one statement per table, never one call per row.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from 'chord-sync/prisma';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  /** For seeding and inspection; never timed. */
  readonly admin: pg.Pool;
  /** Creates (if missing) and migrates `schema` with chord-sync's migrations. */
  provision(schema: string): Promise<void>;
  drop(): Promise<void>;
}

export async function createBenchDatabase(adminUrl: string): Promise<BenchDatabase> {
  const name = `chord_bench_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = withDatabase(adminUrl, name);
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  admin.on('error', () => {});
  let dropped: Promise<void> | undefined;
  return {
    name,
    url,
    admin,
    async provision(schema) {
      await migrate({ pool: admin }, { schema });
    },
    drop() {
      dropped ??= (async () => {
        await admin.end().catch(() => {});
        const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
        await c.connect();
        try {
          await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await c.end();
        }
      })();
      return dropped;
    },
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The context every seeded row holds at version `v` (SQL over a bigint expression `v`). */
function contextSql(v: string, name: string): string {
  return `jsonb_build_object('name', ${name}, 'counter', ${v}, 'tags', jsonb_build_array('a', 'b'), 'nested', jsonb_build_object('x', 1, 'y', 'text'))`;
}

/** The delta from version `v - 1` to `v` of {@link contextSql}, in chord-sync's delta format. */
function deltaSql(v: string): string {
  return `jsonb_build_object('s', jsonb_build_object('counter', ${v}), 'o', jsonb_build_object('counter', ${v} - 1))`;
}

/** The context {@link seed} stores at version `v`, as JavaScript. */
export function seededContext(name: string, version: number): { name: string; counter: number; tags: string[]; nested: { x: number; y: string } } {
  return { name, counter: version, tags: ['a', 'b'], nested: { x: 1, y: 'text' } };
}

export interface SeedSpec {
  readonly schema: string;
  /** Ids are `${prefix}${n}` with n zero-padded to 6 digits, for n in [0, contexts). */
  readonly prefix: string;
  readonly contexts: number;
  /** Each context is at this version, with deltas 1…`deltasPerContext` (so version ≥ deltas). */
  readonly version: number;
  readonly deltasPerContext: number;
  /** `inserted_at` of the contexts and of the deltas. */
  readonly contextTime: number;
  readonly deltaTime: number;
  /** When set, only the deltas with version ≤ this get `deltaTime`; the rest get `contextTime`. */
  readonly oldDeltasUpTo?: number;
  /** Skip the contexts (deltas only). */
  readonly deltasOnly?: boolean;
}

export function seededId(prefix: string, n: number): string {
  return `${prefix}${String(n).padStart(6, '0')}`;
}

/** Inserts contexts and deltas with two set-based statements. */
export async function seed(admin: pg.Pool, spec: SeedSpec): Promise<void> {
  const s = quoteIdent(spec.schema);
  const id = `$1::text || lpad(n::text, 6, '0')`;
  if (spec.deltasOnly !== true) {
    await admin.query(
      `INSERT INTO ${s}.chord_contexts (context_id, context, version, inserted_at) ` +
        `SELECT ${id}, ${contextSql('$3::bigint', id)}, $3::bigint, $4::bigint FROM generate_series(0, $2::int - 1) n`,
      [spec.prefix, spec.contexts, spec.version, spec.contextTime],
    );
  }
  if (spec.deltasPerContext > 0) {
    const oldUpTo = spec.oldDeltasUpTo ?? spec.version;
    await admin.query(
      `INSERT INTO ${s}.chord_deltas (context_id, delta, version, inserted_at) ` +
        `SELECT ${id}, ${deltaSql('v')}, v, CASE WHEN v <= $6::bigint THEN $4::bigint ELSE $5::bigint END ` +
        `FROM generate_series(0, $2::int - 1) n CROSS JOIN generate_series($7::bigint - $3::bigint + 1, $7::bigint) v`,
      [spec.prefix, spec.contexts, spec.deltasPerContext, spec.deltaTime, spec.contextTime, oldUpTo, spec.version],
    );
  }
}

export async function analyze(admin: pg.Pool, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await admin.query(`VACUUM ANALYZE ${s}.chord_contexts`);
  await admin.query(`VACUUM ANALYZE ${s}.chord_deltas`);
}
