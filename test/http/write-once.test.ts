// Exactly once over the wire: a proxy lets the server apply a client's write, lets another write land
// on the same key, then resets the client's connection before the answer reaches it. The client's
// retry (same clientId and writeId, sent raw) goes to a second server process on the same
// PostgreSQL, or to the server process restarted, and must not be applied again: the other write
// survives and the version rose exactly twice.
import { randomBytes } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PrismaBackend, migrate } from '../../src/backends/prisma/index.js';
import { Chord } from '../../src/engine/index.js';
import { REPO_ROOT, ensureBuilt } from '../support/build.js';
import { serverUrl } from '../support/database.js';
import { databaseChoice, noServerReason, skipNote } from '../support/targets.js';
import { type LineProcess, startLineProcess } from '../live/line-process.js';

const SERVER = fileURLToPath(new URL('./fixtures/write-server.mjs', import.meta.url));
const BOUND_MS = 60_000;
const url = serverUrl(databaseChoice()) ?? '';
const noServer = noServerReason();

/** A free port on 127.0.0.1 (listened on, then given back). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * Forwards one connection to `port`; when the server's answer starts to arrive (the write is
 * applied), runs `meanwhile`, then resets the client's connection without passing the answer on.
 */
async function cuttingProxy(port: number, meanwhile: () => Promise<void>): Promise<{ port: number; cut: Promise<void>; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let cutDone!: () => void;
  let cutFailed!: (error: unknown) => void;
  const cut = new Promise<void>((resolve, reject) => {
    cutDone = resolve;
    cutFailed = reject;
  });
  const proxy: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('error', () => {});
    upstream.on('error', () => client.destroy());
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.once('data', () => {
      upstream.pause();
      meanwhile().then(
        () => {
          client.resetAndDestroy();
          upstream.destroy();
          cutDone();
        },
        (error: unknown) => {
          client.destroy();
          cutFailed(error);
        },
      );
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => resolve());
      }),
  };
}

function post(port: number, body: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/contexts/doc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(BOUND_MS),
  });
}

describe.skipIf(noServer !== undefined)(`a write whose answer is lost is applied once, across server processes${skipNote(noServer)}`, () => {
  let admin: pg.Pool;
  let dist: string;
  const schemas: string[] = [];
  const processes: LineProcess[] = [];

  beforeAll(async () => {
    admin = new pg.Pool({ connectionString: url, max: 2 });
    await ensureBuilt();
    dist = join(REPO_ROOT, 'dist');
  }, 300_000);

  afterAll(async () => {
    for (const p of processes) await p.stop();
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin?.end();
  });

  async function startWriteServer(schema: string, port: number): Promise<LineProcess> {
    const p = await startLineProcess(SERVER, JSON.stringify({ dist, url, schema, port }), BOUND_MS, 'write server');
    processes.push(p);
    return p;
  }

  async function scenario(retryTarget: 'second process' | 'restarted process'): Promise<void> {
    const schema = `chord_w1_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    await migrate({ pool: admin }, { schema });
    const backend = new PrismaBackend({ connectionString: url, schema, poolSize: 2 });
    try {
      const chord = new Chord({ backend });
      await chord.setContext('doc', { n: 0, other: 'x' });
      const firstPort = await freePort();
      const first = await startWriteServer(schema, firstPort);
      const write = { kind: 'update', merge: { n: 1 }, unset: [['other']], clientId: 'client-1', writeId: 1 };
      // The other write lands on the same key after the client's write, before its answer.
      const proxy = await cuttingProxy(firstPort, async () => {
        await chord.updateContext('doc', { n: 2 });
      });
      try {
        await expect(post(proxy.port, write)).rejects.toThrow();
        await proxy.cut;
      } finally {
        await proxy.close();
      }
      expect(await chord.getContext('doc')).toMatchObject({ version: 3, context: { n: 2 } });

      let retryPort: number;
      if (retryTarget === 'second process') {
        retryPort = await freePort();
        await startWriteServer(schema, retryPort);
      } else {
        await first.stop();
        retryPort = firstPort;
        await startWriteServer(schema, retryPort);
      }
      const retry = await post(retryPort, write);
      expect(retry.status).toBe(200);
      const epoch = (await chord.getContext('doc'))!.epoch;
      expect(await retry.json()).toStrictEqual({ version: 2, epoch, duplicate: true });
      // Not applied again: the other write survives, and the version rose exactly twice.
      expect(await chord.getContext('doc')).toMatchObject({ version: 3, context: { n: 2 } });
      // The client's next write applies.
      const next = await post(retryPort, { ...write, merge: { n: 3 }, unset: [], writeId: 2 });
      expect(await next.json()).toMatchObject({ version: 4, duplicate: false });
    } finally {
      await backend.close();
    }
  }

  test('the retry goes to a second server process on the same PostgreSQL', () => scenario('second process'), 180_000);
  test('the retry goes to the server process after a restart', () => scenario('restarted process'), 180_000);
});
