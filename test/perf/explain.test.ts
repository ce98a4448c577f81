// Every statement PrismaBackend sends on a hot path reads its rows through an index, and listing
// stops at its limit: checked with EXPLAIN (FORMAT JSON) — the planner's choice, never a timing —
// on a table seeded (set-based) big enough and ANALYZEd, so the planner prefers an index whenever
// one serves. The SQL is the backend's own (ChordStatements), so a change to a statement that
// loses its index fails here. Runs on the test run's PostgreSQL server and on PGlite.
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { migrate, pglitePool } from '../../src/backends/prisma/index.js';
import { ChordStatements } from '../../src/backends/prisma/statements.js';
import type { Statement } from '../../src/backends/prisma/statements.js';
import type { DatabaseChoice } from '../support/database.js';

/** 2 000 contexts × 50 deltas: 100 000 delta rows. */
const CONTEXTS = 2_000;
const DELTAS_PER_CONTEXT = 50;
/** Deltas with a version up to this are stamped OLD_TIME (2% of the table), the rest NEW_TIME. */
const OLD_UP_TO = 1;
const OLD_TIME = 1_000;
const NEW_TIME = 5_000;
/** The first 20 contexts are stamped OLD_TIME (1%): idle by a cutoff between the two times. */
const IDLE_CONTEXTS = 20;
const CUTOFF = String((OLD_TIME + NEW_TIME) / 2);
const ID = 'ctx:000123';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

interface Database {
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

function chosenDatabase(): DatabaseChoice {
  return inject('chordDatabase') ?? { kind: 'pglite', reason: 'run without the vitest globalSetup' };
}

async function openDatabase(choice: DatabaseChoice, schema: string): Promise<Database> {
  if (choice.kind === 'pglite') {
    const db = await PGlite.create();
    await migrate({ pool: pglitePool(db) }, { schema });
    return {
      query: async (sql, params) => (await db.query<Record<string, unknown>>(sql, params as unknown[] | undefined)).rows,
      close: () => db.close(),
    };
  }
  const pool = new pg.Pool({ connectionString: choice.url, max: 1 });
  await migrate({ pool }, { schema });
  return {
    query: async (sql, params) => (await pool.query(sql, params as unknown[] | undefined)).rows,
    close: async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

async function seed(db: Database, statements: ChordStatements): Promise<void> {
  const id = `'ctx:' || lpad(n::text, 6, '0')`;
  await db.query(
    `INSERT INTO ${statements.contexts} (context_id, context, version, inserted_at) ` +
      `SELECT ${id}, jsonb_build_object('n', n), ${DELTAS_PER_CONTEXT}, CASE WHEN n < ${IDLE_CONTEXTS} THEN ${OLD_TIME} ELSE ${NEW_TIME} END ` +
      `FROM generate_series(0, ${CONTEXTS - 1}) n`,
  );
  await db.query(
    `INSERT INTO ${statements.deltas} (context_id, delta, version, inserted_at) ` +
      `SELECT ${id}, jsonb_build_object('s', jsonb_build_object('v', v)), v, CASE WHEN v <= ${OLD_UP_TO} THEN ${OLD_TIME} ELSE ${NEW_TIME} END ` +
      `FROM generate_series(0, ${CONTEXTS - 1}) n CROSS JOIN generate_series(1, ${DELTAS_PER_CONTEXT}) v`,
  );
  await db.query(`ANALYZE ${statements.contexts}`);
  await db.query(`ANALYZE ${statements.deltas}`);
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

async function explain(db: Database, sql: string, params: readonly unknown[], indexUsable: boolean): Promise<PlanNode> {
  // One connection (pool of 1, or PGlite's single session), so the setting applies to the EXPLAIN.
  if (indexUsable) await db.query('SET enable_seqscan = off');
  let rows: Record<string, unknown>[];
  try {
    rows = await db.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
  } finally {
    if (indexUsable) await db.query('RESET enable_seqscan');
  }
  const row = rows[0];
  // pg parses the json column; PGlite may too, or hand back the text.
  const raw = row?.['QUERY PLAN'];
  const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>;
  return parsed[0]!.Plan;
}

/** What a plan must look like: which tables it reads by an index (and none sequentially). */
interface Expectation {
  readonly statement: Statement;
  /** Tables the statement reads rows of; each must be read through an index. */
  readonly reads: ReadonlyArray<'chord_contexts' | 'chord_deltas'>;
  /** Listing: the rows arrive in index order under a Limit, with no sort or hash in between. */
  readonly stopsAtLimit?: boolean;
  /**
   * Cleanup batches: how many rows a batch touches decides whether a scan of the whole table is
   * cheaper, so only check that an index can serve (sequential scans disabled for the EXPLAIN).
   */
  readonly indexUsable?: boolean;
}

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']);

function checkPlan(plan: PlanNode, expectation: Expectation): void {
  const all = nodes(plan);
  const seqScans = all.filter((n) => n['Node Type'] === 'Seq Scan').map((n) => n['Relation Name']);
  expect(seqScans, 'sequential scans').toEqual([]);
  for (const table of expectation.reads) {
    // A Bitmap Index Scan names the index only; chord's index names start with their table's.
    const indexed = all.some((n) => INDEX_SCANS.has(n['Node Type']) && (n['Relation Name'] === table || n['Index Name']?.startsWith(table)));
    expect(indexed, `${table} read through an index`).toBe(true);
  }
  if (expectation.stopsAtLimit === true) {
    expect(plan['Node Type']).toBe('Limit');
    const blocking = all.filter((n) => n['Node Type'] === 'Sort' || n['Node Type'] === 'Hash' || n['Node Type'] === 'Gather Merge' || (n['Node Type'] === 'Aggregate' && (n as { Strategy?: string }).Strategy === 'Hashed'));
    expect(blocking.map((n) => n['Node Type']), 'nodes that read everything before the limit').toEqual([]);
  }
}

const schema = `chord_perf_${randomBytes(5).toString('hex')}`;
const statements = new ChordStatements(schema);
const at = (sql: string, ...params: Array<string | null>): Statement => ({ sql, params });

const expectations: Record<string, Expectation> = {
  getContext: { statement: at(statements.getContext, ID), reads: ['chord_contexts'] },
  getDeltas: { statement: at(statements.getDeltas, ID, '45'), reads: ['chord_deltas'] },
  readForSync: { statement: at(statements.readForSync, ID, '45', '100', '65536', null, null), reads: ['chord_contexts', 'chord_deltas'] },
  // With the engine's hint of a merge it holds (an epoch that may or may not match: the plan is the same).
  'readForSync with known': { statement: at(statements.readForSync, ID, '45', '100', '65536', '60', 'some-epoch'), reads: ['chord_contexts', 'chord_deltas'] },
  deleteContext: { statement: at(statements.deleteContext, ID), reads: ['chord_contexts'] },
  deleteDeltasForContext: { statement: at(statements.deleteDeltasForContext, ID), reads: ['chord_deltas'] },
  deleteDeltasByTime: { statement: at(statements.deleteDeltasByTime, ID, CUTOFF), reads: ['chord_deltas'] },
  deleteDeltasExceedingThreshold: { statement: at(statements.deleteDeltasExceedingThreshold, ID, '10'), reads: ['chord_deltas'] },
  'writeVersion (update)': { statement: at(statements.writeVersionUpdate, ID, '{}', '{}', String(DELTAS_PER_CONTEXT), '6000'), reads: ['chord_contexts'] },
  restoreVersion: { statement: at(statements.restoreVersion, ID, '{}', '60', '6000', 'epoch', '50'), reads: ['chord_contexts', 'chord_deltas'] },
  'writeVersion (insert)': { statement: at(statements.writeVersionInsert, 'new id', '{}', '{}', '0', '6000', 'epoch'), reads: ['chord_contexts'] },
  'listContexts (limit 100)': { statement: statements.listContexts({ limit: 100 }), reads: ['chord_contexts'], stopsAtLimit: true },
  'listContexts (desc, limit 100)': { statement: statements.listContexts({ limit: 100, order: 'desc' }), reads: ['chord_contexts'], stopsAtLimit: true },
  'listDeltas (limit 100)': { statement: statements.listDeltas({ limit: 100 }), reads: ['chord_deltas'], stopsAtLimit: true },
  // Bounded by the id's deltas (the planner may sort those few rows), not by the limit.
  'listDeltas (one id, limit 100)': { statement: statements.listDeltas({ contextId: ID, limit: 100 }), reads: ['chord_deltas'] },
  'listContextsWithDeltaCounts (limit 100)': { statement: statements.listContextsWithDeltaCounts({ limit: 100 }), reads: ['chord_deltas'], stopsAtLimit: true },
  'listContextsWithDeltaCounts (desc, limit 100)': {
    statement: statements.listContextsWithDeltaCounts({ limit: 100, order: 'desc' }),
    reads: ['chord_deltas'],
    stopsAtLimit: true,
  },
  deleteIdleContexts: { statement: at(statements.deleteIdleContexts, CUTOFF, '1000'), reads: ['chord_contexts', 'chord_deltas'], indexUsable: true },
  deleteDeltasOlderThan: { statement: at(statements.deleteDeltasOlderThan, CUTOFF, '1000'), reads: ['chord_deltas'], indexUsable: true },
  deleteDeltasBeyondNewest: { statement: at(statements.deleteDeltasBeyondNewest, '10', '1000'), reads: ['chord_deltas'], indexUsable: true },
};

describe(`EXPLAIN of PrismaBackend's statements on ${CONTEXTS * DELTAS_PER_CONTEXT} deltas (${chosenDatabase().kind})`, () => {
  let db: Database;

  beforeAll(async () => {
    db = await openDatabase(chosenDatabase(), schema);
    await seed(db, statements);
  });

  afterAll(async () => {
    await db?.close();
  });

  for (const [name, expectation] of Object.entries(expectations)) {
    const what = expectation.indexUsable === true ? 'can read through an index' : 'reads through an index';
    test(`${name} ${what}${expectation.stopsAtLimit === true ? ' and stops at its limit' : ''}`, async () => {
      checkPlan(await explain(db, expectation.statement.sql, expectation.statement.params, expectation.indexUsable === true), expectation);
    });
  }
});
