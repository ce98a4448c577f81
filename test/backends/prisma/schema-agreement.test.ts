// The migration SQL and prisma/schema.prisma must describe the same tables: migrate a fresh schema,
// read the catalog, and compare it with what the Prisma schema declares, so the two can't drift.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { PrismaBackend } from '../../../src/backends/prisma/index.js';
import { manualClock } from '../../../src/testing/harness.js';
import { prismaTargets, type PrismaTarget } from '../../support/targets.js';
import { forTarget } from '../../support/named.js';

interface DeclaredColumn {
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
}
interface DeclaredTable {
  readonly name: string;
  readonly columns: DeclaredColumn[];
  readonly primaryKey: { name: string; columns: string[] };
  readonly indexes: Array<{ name: string; columns: string[] }>;
}

// How Prisma maps these scalar types onto PostgreSQL by default.
const PRISMA_TO_PG: Record<string, string> = { String: 'text', Json: 'jsonb', BigInt: 'bigint', Int: 'integer', Boolean: 'boolean' };

/** Parses the model blocks of a Prisma schema (the subset chord-sync uses) into the tables Prisma would create. */
function parsePrismaSchema(text: string): DeclaredTable[] {
  const tables: DeclaredTable[] = [];
  for (const match of text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    // Both groups always take part in a match of this pattern.
    const modelName = match[1] as string;
    const body = match[2] as string;
    const fieldToColumn = new Map<string, string>();
    const columns: DeclaredColumn[] = [];
    let tableName = modelName;
    let idFields: string[] = [];
    const indexFields: string[][] = [];
    for (const raw of body.split('\n')) {
      const line = raw.replace(/\/\/.*$/, '').trim();
      if (line === '') continue;
      const list = (attr: string): string[] | undefined =>
        line.match(new RegExp(`^@@${attr}\\(\\[([^\\]]*)\\]`))?.[1]?.split(',').map((s) => s.trim());
      if (line.startsWith('@@map(')) tableName = /@@map\("([^"]+)"\)/.exec(line)![1]!;
      else if (line.startsWith('@@id(')) idFields = list('id')!;
      else if (line.startsWith('@@index(')) indexFields.push(list('index')!);
      else if (!line.startsWith('@@')) {
        const [, field, type, optional, attrs] = /^(\w+)\s+(\w+)(\?)?\s*(.*)$/.exec(line)!;
        const column = /@map\("([^"]+)"\)/.exec(attrs!)?.[1] ?? field!;
        fieldToColumn.set(field!, column);
        const pgType = PRISMA_TO_PG[type!];
        if (pgType === undefined) throw new Error(`schema-agreement: add a mapping for Prisma type ${type}`);
        columns.push({ name: column, type: pgType, nullable: optional === '?' });
        if (/(^|\s)@id(\s|$)/.test(attrs!)) idFields = [field!];
      }
    }
    const toColumns = (fields: string[]): string[] => fields.map((f) => fieldToColumn.get(f) ?? f);
    tables.push({
      name: tableName,
      columns,
      primaryKey: { name: `${tableName}_pkey`, columns: toColumns(idFields) },
      // Prisma's default index name: table, columns, "idx", joined by underscores.
      indexes: indexFields.map((fields) => ({ name: `${tableName}_${toColumns(fields).join('_')}_idx`, columns: toColumns(fields) })),
    });
  }
  return tables;
}

const schemaText = readFileSync(fileURLToPath(new URL('../../../prisma/schema.prisma', import.meta.url)), 'utf8');
const declared = parsePrismaSchema(schemaText);

// One target per database engine is enough: the schema is what is compared, not the executor.
const targets = prismaTargets().filter((t, i, all) => all.findIndex((u) => u.database === t.database) === i);

async function withMigratedSchema(target: PrismaTarget, fn: (schema: string) => Promise<void>): Promise<void> {
  const backend: PrismaBackend = await target.harness.makeBackend({ clock: manualClock() });
  try {
    await fn(target.inspector.schemaOf(backend));
  } finally {
    await target.harness.dispose?.(backend);
  }
}

test('the parser reads every model of schema.prisma', () => {
  expect(declared.map((t) => t.name)).toEqual(['chord_contexts', 'chord_deltas', 'chord_writes']);
  expect(declared[1]?.primaryKey.columns).toEqual(['context_id', 'version']);
  expect(declared[2]?.primaryKey.columns).toEqual(['context_id', 'client_id']);
});

for (const target of targets) {
  describe(`migration SQL agrees with schema.prisma on ${target.database}`, () => {
    const { test } = forTarget(target.label);
    test('the same tables, columns, types and nullability', async () => {
      await withMigratedSchema(target, async (schema) => {
        const tables = await target.inspector.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name <> '_prisma_migrations' ORDER BY table_name`,
          [schema],
        );
        expect(tables.map((t) => t.table_name)).toEqual(declared.map((t) => t.name).sort());
        for (const table of declared) {
          const columns = await target.inspector.query<{ column_name: string; data_type: string; is_nullable: string }>(
            `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
            [schema, table.name],
          );
          expect(columns.map((c) => ({ name: c.column_name, type: c.data_type, nullable: c.is_nullable === 'YES' })), table.name).toEqual(table.columns);
        }
      });
    });

    test('the same primary keys and indexes, under the names Prisma gives them', async () => {
      await withMigratedSchema(target, async (schema) => {
        for (const table of declared) {
          const indexes = await target.inspector.query<{ name: string; primary: boolean; columns: string[] }>(
            `SELECT i.relname AS name, ix.indisprimary AS primary,
                    array_agg(a.attname::text ORDER BY k.ord) AS columns
               FROM pg_index ix
               JOIN pg_class i ON i.oid = ix.indexrelid
               JOIN pg_class t ON t.oid = ix.indrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
               CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
              WHERE n.nspname = $1 AND t.relname = $2
              GROUP BY i.relname, ix.indisprimary
              ORDER BY i.relname`,
            [schema, table.name],
          );
          const expected = [
            { name: table.primaryKey.name, primary: true, columns: table.primaryKey.columns },
            ...table.indexes.map((ix) => ({ name: ix.name, primary: false, columns: ix.columns })),
          ].sort((x, y) => (x.name < y.name ? -1 : 1));
          expect(indexes, table.name).toEqual(expected);
          const [constraint] = await target.inspector.query<{ conname: string }>(
            `SELECT c.conname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
              WHERE c.contype = 'p' AND n.nspname = $1 AND t.relname = $2`,
            [schema, table.name],
          );
          expect(constraint?.conname).toBe(table.primaryKey.name);
        }
      });
    });

    test('the id columns use the "C" collation, so ORDER BY is UTF-8 byte order from the index', async () => {
      // The one thing the migration adds beyond schema.prisma (see the comment at its top).
      await withMigratedSchema(target, async (schema) => {
        const rows = await target.inspector.query<{ table_name: string; collation_name: string | null }>(
          `SELECT table_name, collation_name FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'context_id' ORDER BY table_name`,
          [schema],
        );
        expect(rows).toEqual(declared.map((t) => ({ table_name: t.name, collation_name: 'C' })));
        expect(schemaText).toMatch(/COLLATE "C"/);
      });
    });
  });
}
