/**
 * The server process of a ChordConnection killed (SIGKILL) mid-stream while writes go on, and
 * started again on the same port and the same PostgreSQL: every context of the connection resumes
 * from the state it holds (the same epoch, the reopened request naming each version) and ends equal
 * to the server, with no update applied twice or out of order.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PrismaBackend } from '../../src/backends/prisma/index.js';
import { ChordConnection, type ConnectionContext } from '../../src/client/index.js';
import { Chord } from '../../src/engine/chord.js';
import type { JsonObject } from '../../src/types.js';
import { decodeFollowList } from '../../src/wire/multiplex.js';
import { waitFor } from '../http/support.js';
import { ensureBuilt } from '../support/build.js';
import type { DisposablePostgres } from '../support/disposable-postgres.js';
import { freshSchema, missingBinaries, runServerUrl, startServer } from '../reliability/support.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/sync-server.mjs', import.meta.url));
const CONTEXTS = 12;
const runUrl = runServerUrl();
const skip = runUrl === undefined && missingBinaries !== undefined ? `no PostgreSQL server for the run and ${missingBinaries}` : undefined;

let disposable: DisposablePostgres | undefined;
let url: string;
beforeAll(async () => {
  if (skip !== undefined) return;
  await ensureBuilt();
  if (runUrl !== undefined) url = runUrl;
  else {
    disposable = (await startServer())!;
    url = disposable.url;
  }
});
afterAll(() => disposable?.dispose());

/** Starts the server process; resolves with its port once it listens. */
function startChild(args: { url: string; schema: string; port: number }): { child: ChildProcess; port: Promise<number> } {
  const child = spawn(process.execPath, [SCRIPT, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('ready ')) resolve(Number(line.slice(6)));
    });
    child.once('exit', (code) => reject(new Error(`the server process exited with ${code}: ${stderr}`)));
  });
  return { child, port };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test.skipIf(skip !== undefined)(`the server process killed mid-stream and started again: every context resumes and converges${skip ? ` (skipped: ${skip})` : ''}`, async () => {
  const { schema, drop } = await freshSchema(url);
  const backend = new PrismaBackend({ connectionString: url, schema, poolSize: 4 });
  const children: ChildProcess[] = [];
  let connection: ChordConnection | undefined;
  try {
    const chord = new Chord({ backend });
    const ids = Array.from({ length: CONTEXTS }, (_, i) => `room:${i}`);
    const history = new Map<string, Map<number, JsonObject>>(ids.map((id) => [id, new Map()]));
    const epochs = new Map<string, string | undefined>();
    for (const id of ids) {
      const { context } = await chord.setContext(id, { n: 0 });
      history.get(id)!.set(context.version, context.context);
      epochs.set(id, context.epoch);
    }
    const first = startChild({ url, schema, port: 0 });
    children.push(first.child);
    const port = await first.port;

    const urls: Array<{ at: number; url: URL }> = [];
    const errors: unknown[] = [];
    connection = new ChordConnection({
      url: `http://127.0.0.1:${port}/contexts`,
      initialBackoffMs: 50,
      maxBackoffMs: 400,
      onError: (error) => errors.push(error),
      fetch: (input, init) => {
        urls.push({ at: Date.now(), url: new URL(String(input)) });
        return fetch(input, init);
      },
    });
    const handles = new Map<string, ConnectionContext>();
    const applied = new Map<string, Array<{ version: number; epoch: string | undefined; context: JsonObject }>>();
    for (const id of ids) {
      const handle = connection.context(id);
      const seen: Array<{ version: number; epoch: string | undefined; context: JsonObject }> = [];
      handle.subscribe((state) => {
        if (state !== null) seen.push({ version: state.version, epoch: state.epoch, context: state.context });
      });
      handles.set(id, handle);
      applied.set(id, seen);
    }
    await waitFor(() => ids.every((id) => handles.get(id)!.state !== null), 20_000, 'every context to arrive');

    let writing = true;
    const writer = (async () => {
      for (let round = 1; writing; round++) {
        for (const id of ids) {
          const { context } = await chord.updateContext(id, { n: round });
          history.get(id)!.set(context.version, context.context);
        }
        await sleep(10);
      }
    })();
    await sleep(400);
    await killed(first.child);
    const killedAt = Date.now();
    await sleep(400);
    const second = startChild({ url, schema, port });
    children.push(second.child);
    expect(await second.port).toBe(port);
    await sleep(600);
    writing = false;
    await writer;

    await waitFor(
      () => ids.every((id) => handles.get(id)!.state?.version === Math.max(...history.get(id)!.keys())),
      20_000,
      'every context to end equal to the server',
    );
    for (const id of ids) {
      const stored = (await chord.getContext(id))!;
      expect(handles.get(id)!.state).toEqual({ context: stored.context, version: stored.version, epoch: stored.epoch });
      const seen = applied.get(id)!;
      for (let i = 1; i < seen.length; i++) expect(seen[i]!.version, `${id}: versions rise strictly`).toBeGreaterThan(seen[i - 1]!.version);
      for (const s of seen) {
        expect(s.epoch, `${id}: one life throughout`).toBe(epochs.get(id));
        expect(s.context, `${id}: the state held at ${s.version} is the server's`).toEqual(history.get(id)!.get(s.version));
      }
    }
    // The kill was noticed, and every request after it named each context with the version it held.
    expect(errors.length).toBeGreaterThan(0);
    const after = urls.filter((u) => u.at >= killedAt);
    expect(after.length).toBeGreaterThan(0);
    for (const { url: request } of after) {
      for (const entry of decodeFollowList(request.searchParams.get('contexts')!)) expect(entry.version, `${entry.contextId} resumed from its version`).not.toBeNull();
    }
  } finally {
    connection?.close();
    await Promise.all(children.map(killed));
    await backend.close();
    await drop();
  }
}, 120_000);
