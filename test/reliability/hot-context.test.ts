/**
 * Hot contexts (issue 8.5): writes to one context from one process queue in that process, so only
 * other processes race. 8 processes × 100 concurrent updates of one context, default settings:
 * none gives up, and every update is in the final state.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, test } from 'vitest';
import { Chord } from '../../src/engine/chord.js';
import { PrismaBackend, migrate } from '../../src/backends/prisma/index.js';
import { ensureBuilt } from '../support/build.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, noServerReason, skipNote } from '../support/targets.js';

const PROCESSES = 8;
const WRITES = 100;
const SCRIPT = fileURLToPath(new URL('./fixtures/hot-writer.mjs', import.meta.url));

interface Report {
  writer: number;
  written: number;
  gaveUp: number;
  errors: string[];
}

function runWriter(args: object): { ready: Promise<void>; go: () => void; done: Promise<Report> } {
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let report: Report | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') markReady();
    else if (line.startsWith('{')) report = JSON.parse(line) as Report;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  const done = new Promise<Report>((resolve, reject) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && report !== undefined) resolve(report);
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
  done.catch(() => markReady());
  return { ready, go: () => child.stdin.end('go\n'), done };
}

const url = serverUrl(databaseChoice());
const noServer = noServerReason();

test.skipIf(noServer !== undefined)(
  `${PROCESSES} processes × ${WRITES} concurrent updates of one context, default settings: none gives up, all land${skipNote(noServer)}`,
  async () => {
    const server = url as string;
    const admin = new pg.Pool({ connectionString: server, max: 1 });
    const schema = `chord_hot_${randomBytes(6).toString('hex')}`;
    let backend: PrismaBackend | undefined;
    try {
      await ensureBuilt();
      await migrate({ pool: admin }, { schema });
      backend = new PrismaBackend({ connectionString: server, schema, poolSize: 2 });
      const contextId = 'hot:room';
      await new Chord({ backend }).setContext(contextId, { start: true });
      const writers = Array.from({ length: PROCESSES }, (_, writer) => runWriter({ url: server, schema, contextId, writer, writes: WRITES }));
      await Promise.all(writers.map((w) => w.ready));
      const started = Date.now();
      for (const w of writers) w.go();
      const reports = await Promise.all(writers.map((w) => w.done));
      const elapsed = Date.now() - started;
      for (const r of reports) expect(r, JSON.stringify(r.errors)).toMatchObject({ written: WRITES, gaveUp: 0 });
      const final = await backend.getContext(contextId);
      expect(final?.version).toBe(1 + PROCESSES * WRITES);
      for (let w = 0; w < PROCESSES; w++) for (let i = 0; i < WRITES; i++) expect(final?.context[`w${w}_${i}`]).toBe(i);
      console.info(`hot context: ${PROCESSES * WRITES} concurrent updates from ${PROCESSES} processes in ${elapsed} ms, 0 gave up`);
    } finally {
      await backend?.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  },
  300_000,
);
