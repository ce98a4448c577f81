#!/usr/bin/env node
// Prisma's own migration engine, run from its Wasm build, standing in for the native schema-engine
// binary that the Prisma CLI would download (no npm package ships it, and CI has no network for it).
//
//   PRISMA_SCHEMA_ENGINE_BINARY=scripts/prisma-schema-engine.mjs npx prisma migrate deploy
//
// The CLI starts the binary with `--datamodels <file>… --datasource <json>` and speaks JSON-RPC 2.0
// over stdin/stdout, one message a line; or runs `… --datasource <json> cli <command>` once. This
// program answers the same way, handing every call to `@prisma/schema-engine-wasm` (Prisma's
// schema engine compiled to Wasm, the build that ships as prisma/build/schema_engine_bg.wasm) over
// `@prisma/adapter-pg`. Six things needed help, each found by a failure:
//
// 1. PostgreSQL's one-byte `"char"` catalog columns (pg_class.relkind, pg_constraint.contype…):
//    the adapter has no column type for OID 18 and refuses the whole result; they are reported as
//    text, which is what their values are.
// 2. @prisma/adapter-pg's executeScript splits a script on `;`, which breaks any statement with a
//    `;` inside (a function body, a string): scripts are sent whole, as one simple query; and a
//    script that arrives through executeRaw (initShadowDb) stands for its last statement's result.
// 3. @prisma/adapter-pg's connectToShadowDb keeps the connection string, so the "shadow" adapter
//    points at the main database: this program makes the shadow database itself, next to the main
//    one (or uses the datasource's shadowDatabaseUrl), and drops it when the engine lets it go.
// 4. applyMigrations on a database whose only tables are external ones and that has no migrations
//    table yet (an app's first `migrate dev` after `chord-sync migrate`) fails in the Wasm engine;
//    the stand-in does what the native engine does there: creates the table (or refuses, P3005).
// 5. The URL's `?schema=` is the schema the native engine works in (search_path, created if
//    missing); the adapter's `schema` option alone does not set it, so the pool does.
// 6. `migrate diff`'s summary comes back in the Wasm engine's result instead of being printed: it is
//    sent to the CLI as the native engine sends it, a `print` request.
//
// This leans on an internal protocol, so the versions are pinned (PINNED below, and exactly in
// package.json); any other installed version stops this program with a message saying so, and
// test/prisma/prisma-migrate.test.ts fails on it.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);

/** The versions this stand-in was checked against; an upgrade must be checked again, not trusted. */
export const PINNED = {
  prisma: '7.10.1',
  '@prisma/adapter-pg': '7.10.1',
  '@prisma/driver-adapter-utils': '7.10.1',
  '@prisma/schema-engine-wasm': '8.1.0-2.59be4fda12412a79eeb9c2ae727b6aa723593323',
};

/** A log line the CLI reads from stderr: it shows `fields.message` of the last ERROR. */
function logError(message, errorCode) {
  process.stderr.write(`${JSON.stringify({ timestamp: new Date().toISOString(), level: 'ERROR', target: 'schema_engine::logger', fields: { message, ...(errorCode ? { error_code: errorCode } : {}) } })}\n`);
}

function fail(message) {
  logError(message);
  process.stderr.write(`prisma-schema-engine: ${message}\n`);
  process.exit(1);
}

function installedVersion(pkg) {
  const main = require.resolve(pkg === 'prisma' ? 'prisma/package.json' : pkg === '@prisma/schema-engine-wasm' ? '@prisma/schema-engine-wasm/schema_engine_bg' : pkg);
  for (let dir = dirname(main); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      if (json.name === pkg) return json.version;
    } catch {
      // no package.json at this level: go up
    }
  }
  return undefined;
}

/** The wasm module's interface (imports and exports), which any two builds of one version share. */
function wasmInterface(path) {
  const module = new WebAssembly.Module(readFileSync(path));
  return JSON.stringify([WebAssembly.Module.imports(module).map((i) => `${i.module}:${i.name}:${i.kind}`).sort(), WebAssembly.Module.exports(module).map((e) => `${e.name}:${e.kind}`).sort()]);
}

/** Refuses any version but the pinned ones, and a Prisma whose own Wasm engine differs from ours. */
export function checkVersions() {
  const problems = [];
  for (const [pkg, pinned] of Object.entries(PINNED)) {
    const found = installedVersion(pkg);
    if (found !== pinned) problems.push(`${pkg} is ${found ?? 'not installed'}, this stand-in is checked against ${pinned}`);
  }
  const ours = join(dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')), 'schema_engine_bg.wasm');
  const prismas = join(dirname(require.resolve('prisma/package.json')), 'build', 'schema_engine_bg.wasm');
  try {
    if (wasmInterface(ours) !== wasmInterface(prismas)) problems.push(`${prismas} is not the same engine build as ${ours} (their imports/exports differ)`);
  } catch (error) {
    problems.push(`cannot compare the Wasm engines: ${error.message}`);
  }
  return problems;
}

async function loadEngineModule() {
  const glue = await import('@prisma/schema-engine-wasm/schema_engine_bg');
  const wasmPath = join(dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')), 'schema_engine_bg.wasm');
  // Node 20 cannot import .wasm as a module: instantiate it and hand it to the wasm-bindgen glue.
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasmPath)), { './schema_engine_bg.js': glue });
  glue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  return glue;
}

function parseArgs(argv) {
  const out = { datamodels: [], datasource: undefined, cli: undefined, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--datamodels' || arg === '-d') out.datamodels.push(argv[++i]);
    else if (arg === '--datasource') out.datasource = JSON.parse(argv[++i]);
    else if (arg === '--enabled-preview-features' || arg === '--extension-types') i++;
    else if (arg === '--version' || arg === '-V') out.version = true;
    else if (arg === 'cli') {
      out.cli = argv[++i];
      break;
    }
  }
  return out;
}

/** `schema=` in a PostgreSQL URL is Prisma's, not libpq's: split it off for the adapter's `schema` option. */
function splitUrl(url) {
  const u = new URL(url);
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  return { url: u.toString(), schema };
}

function quoteIdent(name) {
  return `"${name.replaceAll('"', '""')}"`;
}

function withDatabase(url, database) {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function databaseOf(url) {
  return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres';
}

async function withClient(pg, url, run) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** PostgreSQL's one-byte "char" type; node-pg returns its value as a one-character string already. */
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

/**
 * 1. The adapter refuses a result column of type "char" (it has no column type for OID 18), and the
 * engine's catalog queries return several: report them as text, which is what their values are.
 * Patched once on the queryable class shared by the adapter and its transactions.
 */
function readCharAsText(adapter) {
  const queryable = Object.getPrototypeOf(Object.getPrototypeOf(adapter));
  if (typeof queryable.performIO !== 'function') fail('@prisma/adapter-pg has no performIO: the "char" workaround needs checking against this version');
  if (queryable.performIO.chordCharAsText === true) return;
  const performIO = queryable.performIO;
  const patched = async function (query) {
    let result = await performIO.call(this, query);
    // 2b. A script of several statements (the shadow database's initShadowDb arrives through
    // executeRaw) gives node-pg's list of results: the last one stands for it.
    if (Array.isArray(result)) result = result[result.length - 1];
    for (const field of result.fields) if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
    return result;
  };
  patched.chordCharAsText = true;
  queryable.performIO = patched;
}

/** An adapter over `url` with workarounds 1, 2 and 5 applied. */
async function openAdapter(pg, PrismaPg, target, onDispose) {
  const { url, schema } = splitUrl(target);
  const pool = new pg.Pool({
    connectionString: url,
    // 5. The URL's ?schema= is the schema every statement works in, as the native engine makes it.
    ...(schema === undefined ? {} : { options: `-c search_path=${quoteIdent(schema)}` }),
    max: 4,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => {});
  if (schema !== undefined) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  const factory = new PrismaPg(pool, schema === undefined ? undefined : { schema });
  const adapter = await factory.connect();
  readCharAsText(adapter);
  if (process.env.PRISMA_SCHEMA_ENGINE_DEBUG === '1') {
    for (const method of ['queryRaw', 'executeRaw', 'executeScript']) {
      const call = adapter[method].bind(adapter);
      adapter[method] = async (arg) => {
        try {
          return await call(arg);
        } catch (error) {
          process.stderr.write(`prisma-schema-engine: ${method} on ${databaseOf(url)} failed: ${error?.message} ${JSON.stringify(error?.cause ?? {})}\n  ${String(arg?.sql ?? arg).slice(0, 300)}\n`);
          throw error;
        }
      };
    }
  }
  // 2. The whole script as one simple-protocol query: PostgreSQL runs every statement of it, in order.
  adapter.executeScript = async (script) => {
    try {
      await pool.query(script);
    } catch (error) {
      adapter.onError(error);
    }
  };
  const dispose = adapter.dispose.bind(adapter);
  adapter.dispose = async () => {
    await dispose().catch(() => {});
    await pool.end().catch(() => {});
    await onDispose?.();
  };
  return adapter;
}

/** The migration-aware adapter factory the engine is given (workaround 3: a real shadow database). */
function adapterFactory(pg, PrismaPg, datasource) {
  const shadows = new Set();
  return {
    adapterName: '@prisma/adapter-pg',
    provider: 'postgres',
    shadows,
    connect: () => openAdapter(pg, PrismaPg, datasource.url),
    async connectToShadowDb() {
      if (datasource.shadowDatabaseUrl) return openAdapter(pg, PrismaPg, datasource.shadowDatabaseUrl);
      const name = `prisma_migrate_shadow_db_${randomUUID().replaceAll('-', '')}`;
      const admin = splitUrl(datasource.url).url;
      await withClient(pg, admin, (c) => c.query(`CREATE DATABASE "${name}"`));
      const drop = async () => {
        shadows.delete(drop);
        await withClient(pg, admin, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).catch(() => {});
      };
      shadows.add(drop);
      const { schema } = splitUrl(datasource.url);
      const shadowUrl = withDatabase(admin, name) + (schema === undefined ? '' : `?schema=${encodeURIComponent(schema)}`);
      return openAdapter(pg, PrismaPg, shadowUrl, drop);
    },
  };
}

/**
 * Prisma's migrations table, as its native engine creates it: the DDL chord-sync's own migrator
 * uses, from the build (this path is rare: an app's first `migrate dev` after `chord-sync migrate`).
 */
async function createMigrationsTableSql() {
  try {
    return (await import('../dist/backends/prisma/migrate.js')).CREATE_MIGRATIONS_TABLE;
  } catch (error) {
    fail(`creating _prisma_migrations needs chord-sync's build (npm run build): ${error.message}`);
  }
}

/** One statement on the main database, in the URL's ?schema= (search_path) when it has one. */
async function queryMain(pg, target, sql, values) {
  const { url, schema } = splitUrl(target);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, ...(schema === undefined ? {} : { options: `-c search_path=${quoteIdent(schema)}` }) });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The datasource's `schemas = [...]`, if the schema files list them. */
function datasourceSchemas(datamodels) {
  for (const [, source] of datamodels) {
    const match = /\bschemas\s*=\s*\[([^\]]*)\]/.exec(source);
    if (match !== null) return [...match[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
  }
  return undefined;
}

/** A user-facing engine error, shaped as the native engine's (the CLI prints `message`, keeps `code`). */
function engineError(code, message) {
  return Object.assign(new Error(message), { code });
}

/**
 * 4. On a database with tables but no migrations table, the Wasm engine's applyMigrations fails with
 * "migration persistence is not initialized", even when every table there is one the config marks
 * external (an app's first `migrate dev` after `chord-sync migrate` made chord-sync's tables). The
 * native engine creates the migrations table when nothing but external tables is there, and refuses
 * a non-empty database with P3005 (baseline first); this does the same, then calls the engine again.
 */
async function applyMigrations(engine, params, query, datamodels) {
  try {
    return await engine.applyMigrations(params);
  } catch (error) {
    if (!/migration persistence is not initialized/.test(error?.message ?? '')) throw error;
    const external = new Set(params.filters?.externalTables ?? []);
    const current = (await query('SELECT current_schema() AS schema')).rows[0].schema;
    const schemas = datasourceSchemas(datamodels) ?? [current];
    const tables = (
      await query(
        `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1::text[]) AND table_name <> '_prisma_migrations'`,
        [schemas],
      )
    ).rows.map((row) => `${row.table_schema}.${row.table_name}`);
    const own = tables.filter((name) => !external.has(name) && !(name.startsWith(`${current}.`) && external.has(name.slice(current.length + 1))));
    if (own.length > 0) {
      throw engineError('P3005', `The database schema is not empty (${own.slice(0, 5).join(', ')}${own.length > 5 ? ', …' : ''}). Read more about how to baseline an existing production database: https://pris.ly/d/migrate-baseline`);
    }
    await query(await createMigrationsTableSql());
    return engine.applyMigrations(params);
  }
}

/** A JSON-RPC error the CLI understands: `data.message` shown, `data.error_code` kept, `is_panic` for crashes. */
function rpcError(error) {
  const message = error instanceof Error ? error.message : String(error);
  let data = { message, is_panic: error instanceof WebAssembly.RuntimeError };
  // The engine throws its user-facing errors as objects with a code and a message.
  if (error !== null && typeof error === 'object') {
    const e = /** @type {Record<string, unknown>} */ (error);
    if (typeof e.code === 'string' && e.code.startsWith('P')) data = { message, error_code: e.code, meta: e.meta ?? null, is_panic: false };
  }
  return { code: 4466, message: 'An error happened. Check the data field for details.', data };
}

async function runCli(pg, command, datasource) {
  const { url } = splitUrl(datasource.url);
  const database = databaseOf(url);
  const admin = withDatabase(url, 'postgres');
  try {
    switch (command) {
      case 'can-connect-to-database':
        await withClient(pg, url, (c) => c.query('SELECT 1'));
        return 0;
      case 'create-database': {
        const exists = await withClient(pg, admin, (c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]));
        if (exists.rowCount === 0) await withClient(pg, admin, (c) => c.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`));
        process.stdout.write(`${JSON.stringify({ timestamp: new Date().toISOString(), level: 'INFO', fields: { message: `Database '${database}' was successfully created.` } })}\n`);
        return 0;
      }
      case 'drop-database':
        await withClient(pg, admin, (c) => c.query(`DROP DATABASE IF EXISTS "${database.replaceAll('"', '""')}" WITH (FORCE)`));
        return 0;
      default:
        logError(`prisma-schema-engine: unknown cli command ${command}`);
        return 1;
    }
  } catch (error) {
    // Prisma's codes for the two failures its CLI turns into its own messages.
    const code = error?.code === '3D000' ? 'P1003' : error?.code === 'ECONNREFUSED' ? 'P1001' : undefined;
    logError(error instanceof Error ? error.message : String(error), code);
    return 1;
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const problems = checkVersions();
  if (problems.length > 0) fail(`refusing to run: ${problems.join('; ')}. Check the stand-in against the new versions, then update PINNED and package.json.`);
  const glue = await loadEngineModule();
  if (args.version) {
    process.stdout.write(`schema-engine-cli ${glue.version()} (Wasm, @prisma/schema-engine-wasm ${PINNED['@prisma/schema-engine-wasm']})\n`);
    return 0;
  }
  const pg = (await import('pg')).default;
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const { bindMigrationAwareSqlAdapterFactory } = await import('@prisma/driver-adapter-utils');
  if (args.cli !== undefined) {
    if (args.datasource?.url === undefined) fail('cli commands need --datasource {"url": …}');
    return runCli(pg, args.cli, args.datasource);
  }
  if (args.datasource?.url === undefined) fail('no --datasource {"url": …}: only PostgreSQL with a URL is supported');
  if (!/^postgres(ql)?:\/\//.test(args.datasource.url)) fail(`only PostgreSQL is supported, not ${new URL(args.datasource.url).protocol}`);
  const datamodels = args.datamodels.map((path) => [path, readFileSync(path, 'utf8')]);
  const factory = adapterFactory(pg, PrismaPg, args.datasource);
  const debug = process.env.PRISMA_SCHEMA_ENGINE_DEBUG === '1' ? (line) => process.stderr.write(`${line}\n`) : () => {};
  const engine = await glue.SchemaEngine.new({ datamodels: datamodels.length > 0 ? datamodels : undefined }, debug, bindMigrationAwareSqlAdapterFactory(factory));

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let queue = Promise.resolve();
  const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    let request;
    try {
      request = JSON.parse(line);
    } catch {
      send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
      return;
    }
    if (request.id === undefined || request.method === undefined) return; // a response to a `print` we never send
    // One call at a time, in order, as the native engine does.
    queue = queue.then(async () => {
      const method = request.method === 'getDatabaseVersion' ? 'version' : request.method;
      if (typeof engine[method] !== 'function') {
        send({ jsonrpc: '2.0', id: request.id, error: { code: -32601, message: `Method not found: ${request.method}` } });
        return;
      }
      try {
        const result =
          method === 'applyMigrations' ? await applyMigrations(engine, request.params, (sql, values) => queryMain(pg, args.datasource.url, sql, values), datamodels) : await engine[method](request.params ?? {});
        // The native engine prints diff's summary (or script) itself, through a `print` request the
        // CLI writes to stdout; the Wasm engine returns it instead. Print it the native way.
        if (method === 'diff' && typeof result?.stdout === 'string' && result.stdout !== '') {
          send({ jsonrpc: '2.0', id: `print-${request.id}`, method: 'print', params: { content: result.stdout.replace(/\n$/, '') } });
        }
        send({ jsonrpc: '2.0', id: request.id, result: result === undefined ? null : result });
      } catch (error) {
        if (process.env.PRISMA_SCHEMA_ENGINE_DEBUG === '1') process.stderr.write(`prisma-schema-engine: ${request.method} failed: ${error?.stack ?? JSON.stringify(error)}\n`);
        send({ jsonrpc: '2.0', id: request.id, error: rpcError(error) });
      }
    });
  });
  await new Promise((resolve) => rl.on('close', resolve));
  await queue;
  // Shadow databases the engine did not let go of are dropped before leaving.
  await Promise.all([...factory.shadows].map((drop) => drop().catch(() => {})));
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('prisma-schema-engine.mjs')) {
  main().then(
    (code) => process.exit(code),
    (error) => fail(error instanceof Error ? (error.stack ?? error.message) : JSON.stringify(error)),
  );
}
