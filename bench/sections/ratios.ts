/**
 * chord-sync's PrismaBackend (and Chord on it) against the hand-written `pg` reference, per
 * operation, in one database and one run. Each side works on its own ids (prefix `c:`, `r:`,
 * `p:`) in the same tables, so every side sees the same table sizes.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { Chord } from 'chord-sync';
import type { ContextRecord, Delta, DeltaCount, DeltaRecord, JsonObject, ListOptions } from 'chord-sync';
import { PrismaBackend } from 'chord-sync/prisma';
import pg from 'pg';
import { type Case, type Side } from '../lib/measure.js';
import { seed, seededContext, seededId } from '../lib/database.js';
import { PgReference } from '../reference/pg-reference.js';

/** What every side offers: the backend callbacks the bench calls, and the engine's write and sync. */
export interface Subject {
  setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord>;
  getContext(contextId: string): Promise<ContextRecord | null>;
  deleteContext(contextId: string): Promise<number>;
  setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord>;
  getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]>;
  deleteDeltasForContext(contextId: string): Promise<number>;
  deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number>;
  deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number>;
  listContexts(options: ListOptions): Promise<ContextRecord[]>;
  listContextsWithDeltaCounts(options: ListOptions): Promise<DeltaCount[]>;
  listDeltas(options: ListOptions): Promise<DeltaRecord[]>;
  writeVersion(contextId: string, context: JsonObject, delta: Delta, expectedVersion: number): Promise<unknown>;
  write(contextId: string, context: JsonObject): Promise<unknown>;
  sync(contextId: string, clientVersion: number): Promise<unknown>;
}

export interface SubjectSide {
  readonly label: string;
  /** Prepended to every id this side touches. */
  readonly prefix: string;
  readonly subject: Subject;
}

/** Seeded per side before the run: contexts at version 10, each with deltas 1…10. */
export const BASE_CONTEXTS = 1000;
const BASE_VERSION = 10;
const ROTATING_IDS = 50;
const OLD_TIME = 1000;

export function counterDelta(version: number): Delta {
  return { s: { counter: version }, o: { counter: version - 1 } };
}

/** Chord on `backend` as a {@link Subject}. */
export function chordSubject(backend: PrismaBackend): Subject {
  const chord = new Chord({ backend });
  return {
    setContext: backend.setContext.bind(backend),
    getContext: backend.getContext.bind(backend),
    deleteContext: backend.deleteContext.bind(backend),
    setDelta: backend.setDelta.bind(backend),
    getDeltas: backend.getDeltas.bind(backend),
    deleteDeltasForContext: backend.deleteDeltasForContext.bind(backend),
    deleteDeltasByTime: backend.deleteDeltasByTime.bind(backend),
    deleteDeltasExceedingThreshold: backend.deleteDeltasExceedingThreshold.bind(backend),
    listContexts: backend.listContexts.bind(backend),
    listContextsWithDeltaCounts: backend.listContextsWithDeltaCounts.bind(backend),
    listDeltas: backend.listDeltas.bind(backend),
    writeVersion: backend.writeVersion.bind(backend),
    write: (id: string, context: JsonObject) => chord.setContext(id, context),
    sync: (id: string, clientVersion: number) => chord.syncContext(id, clientVersion),
  };
}

export async function seedBase(admin: pg.Pool, schema: string, prefixes: readonly string[]): Promise<void> {
  const now = Date.now();
  for (const prefix of prefixes) {
    await seed(admin, {
      schema,
      prefix: `${prefix}ctx:`,
      contexts: BASE_CONTEXTS,
      version: BASE_VERSION,
      deltasPerContext: BASE_VERSION,
      contextTime: now,
      deltaTime: now,
    });
  }
}

/** The cases of the ratio table, each timed on every side. */
export function backendCases(sides: readonly SubjectSide[], admin: pg.Pool, schema: string, iterations: number): Case[] {
  const base = (prefix: string, i: number) => seededId(`${prefix}ctx:`, (i * 7919) % BASE_CONTEXTS);
  const make = (name: string, build: (s: SubjectSide) => Omit<Side, 'label'>, inGeomean = true): Case => ({
    name,
    iterations,
    inGeomean,
    sides: sides.map((s) => ({ label: s.label, ...build(s) })),
  });
  const seeded = (s: SubjectSide, what: string, spec: { contexts?: boolean; deltas: number; oldUpTo?: number }) =>
    async (round: number, n: number) => {
      const now = Date.now();
      await seed(admin, {
        schema,
        prefix: `${s.prefix}${what}:${round}:`,
        contexts: n,
        version: spec.deltas === 0 ? 1 : spec.deltas,
        deltasPerContext: spec.deltas,
        contextTime: now,
        deltaTime: spec.oldUpTo === undefined ? now : OLD_TIME,
        ...(spec.oldUpTo === undefined ? {} : { oldDeltasUpTo: spec.oldUpTo }),
        deltasOnly: spec.contexts !== true,
      });
    };
  const id = (s: SubjectSide, what: string, round: number, i: number) => seededId(`${s.prefix}${what}:${round}:`, i);
  // Per side: the version each rotating id of the writeVersion case is at.
  const written = new Map<string, number>();

  return [
    make('setContext', (s) => ({
      run: (i, round) => s.subject.setContext(`${s.prefix}sc:${i % ROTATING_IDS}`, seededContext('set', round * iterations + i), round + 1),
    })),
    make('getContext', (s) => ({ run: (i) => s.subject.getContext(base(s.prefix, i)) })),
    make('deleteContext', (s) => ({
      prepare: seeded(s, 'dc', { contexts: true, deltas: 0 }),
      run: (i, round) => s.subject.deleteContext(id(s, 'dc', round, i)),
    })),
    make('setDelta', (s) => ({
      run: (i, round) => {
        const version = round * iterations + i + 1;
        return s.subject.setDelta(`${s.prefix}sd:${i % ROTATING_IDS}`, counterDelta(version), version);
      },
    })),
    make('getDeltas (5 of 10)', (s) => ({ run: (i) => s.subject.getDeltas(base(s.prefix, i), BASE_VERSION - 5) })),
    make('deleteDeltasForContext (5)', (s) => ({
      prepare: seeded(s, 'dd', { deltas: 5 }),
      run: (i, round) => s.subject.deleteDeltasForContext(id(s, 'dd', round, i)),
    })),
    make('deleteDeltasByTime (5 of 10)', (s) => ({
      prepare: seeded(s, 'dt', { deltas: 10, oldUpTo: 5 }),
      run: (i, round) => s.subject.deleteDeltasByTime(id(s, 'dt', round, i), OLD_TIME + 1),
    })),
    make('deleteDeltasExceedingThreshold (5 of 10)', (s) => ({
      prepare: seeded(s, 'dx', { deltas: 10 }),
      run: (i, round) => s.subject.deleteDeltasExceedingThreshold(id(s, 'dx', round, i), 5),
    })),
    make('listContexts (limit 100)', (s) => ({ run: () => s.subject.listContexts({ limit: 100 }) })),
    make('listContextsWithDeltaCounts (limit 100)', (s) => ({ run: () => s.subject.listContextsWithDeltaCounts({ limit: 100 }) })),
    make('listDeltas (one id, limit 100)', (s) => ({ run: (i) => s.subject.listDeltas({ contextId: base(s.prefix, i), limit: 100 }) })),
    make('writeVersion', (s) => ({
      run: (i) => {
        const key = `${s.prefix}wv:${i % ROTATING_IDS}`;
        const expected = written.get(key) ?? 0;
        written.set(key, expected + 1);
        return s.subject.writeVersion(key, seededContext('wv', expected + 1), counterDelta(expected + 1), expected);
      },
    })),
    make('engine write (read, diff, write)', (s) => ({
      run: (i, round) => s.subject.write(`${s.prefix}ew:${i % ROTATING_IDS}`, seededContext('ew', round * iterations + i + 1)),
    })),
    make('engine sync (5 behind)', (s) => ({ run: (i) => s.subject.sync(base(s.prefix, i), BASE_VERSION - 5) })),
  ];
}

export interface RatioSides {
  readonly sides: SubjectSide[];
  close(): Promise<void>;
}

/** chord-sync on its own pool (the default `{ connectionString }` form), the `pg` reference, and optionally `{ adapter }` (every statement through Prisma). */
export function makeRatioSides(url: string, schema: string, withPrismaClient: boolean): RatioSides {
  const chordBackend = new PrismaBackend({ connectionString: url, schema });
  const reference = new PgReference(url, schema);
  const sides: SubjectSide[] = [
    { label: 'chord-sync', prefix: 'c:', subject: chordSubject(chordBackend) },
    { label: 'pg', prefix: 'r:', subject: reference as unknown as Subject },
  ];
  let viaPrisma: PrismaBackend | undefined;
  let appPool: pg.Pool | undefined;
  let viaPool: PrismaBackend | undefined;
  if (withPrismaClient) {
    viaPrisma = new PrismaBackend({ adapter: new PrismaPg({ connectionString: url }, { schema }), schema });
    sides.push({ label: 'via Prisma', prefix: 'p:', subject: chordSubject(viaPrisma) });
    // An app's own pg.Pool, handed over as { pool } (docs/prisma.md's cost table).
    appPool = new pg.Pool({ connectionString: url });
    viaPool = new PrismaBackend({ pool: appPool, schema });
    sides.push({ label: '{ pool }', prefix: 'o:', subject: chordSubject(viaPool) });
  }
  return {
    sides,
    async close() {
      await chordBackend.close();
      await reference.close();
      await viaPrisma?.close();
      await viaPool?.close();
      await appPool?.end();
    },
  };
}
