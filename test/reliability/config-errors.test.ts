// Configuration mistakes are not outages: a wrong password, no password where one is needed, an
// unknown database or role, tables never migrated each give ConfigurationError (code
// `misconfigured`) saying what to fix, on every way of reaching PostgreSQL; a statement the
// database refuses (a constraint) is StatementError, not an outage; the CLI says it in one line.
import { randomBytes } from 'node:crypto';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, describe, expect, test } from 'vitest';
import { PrismaClient } from '../../src/backends/prisma/generated/client.js';
import { PrismaBackend, migrate } from '../../src/backends/prisma/index.js';
import { main } from '../../src/cli/main.js';
import { Chord } from '../../src/engine/index.js';
import { BackendUnavailableError, ConfigurationError, StatementError } from '../../src/errors.js';
import { recordingIo } from '../cli/io.js';
import { noServerReason, prismaTargets, skipNote } from '../support/targets.js';
import { runServerUrl } from './support.js';

const url = runServerUrl();
const noServer = noServerReason();

async function rejection(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (error: unknown) => error,
  );
}

function expectConfiguration(error: unknown, problem: string, fix: RegExp): void {
  expect(error, `${problem}: a ConfigurationError`).toBeInstanceOf(ConfigurationError);
  expect(error).not.toBeInstanceOf(BackendUnavailableError);
  expect(error).toMatchObject({ code: 'misconfigured', problem });
  expect((error as Error).message).toMatch(fix);
}

// --- A server that asks for a password: just enough of the PostgreSQL wire protocol -------------

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

function authentication(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.alloc(4);
  body.writeInt32BE(code, 0);
  return message('R', Buffer.concat([body, payload]));
}

function errorResponse(sqlstate: string, text: string): Buffer {
  const field = (tag: string, value: string): Buffer => Buffer.concat([Buffer.from(tag, 'latin1'), Buffer.from(`${value}\0`, 'utf8')]);
  return message('E', Buffer.concat([field('S', 'FATAL'), field('V', 'FATAL'), field('C', sqlstate), field('M', text), Buffer.from([0])]));
}

/**
 * Answers every startup with a password request: `sasl` (SCRAM-SHA-256, the default since
 * PostgreSQL 14) or `cleartext`, then refuses whatever password comes with 28P01, as a server
 * whose pg_hba.conf says scram-sha-256 / password does.
 */
async function passwordServer(kind: 'sasl' | 'cleartext'): Promise<{ url: (auth: string) => string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let started = false;
    socket.on('data', (data) => {
      if (!started) {
        started = true;
        socket.write(kind === 'sasl' ? authentication(10, Buffer.from('SCRAM-SHA-256\0\0', 'latin1')) : authentication(3));
        return;
      }
      if (data[0] === 0x70 /* 'p': a password or SASL message */) {
        if (kind === 'sasl') {
          // SCRAM's server-first message: the client needs its password to answer it.
          socket.write(authentication(11, Buffer.from('r=abcdefghijklmnopqrstuvwxyz,s=c2FsdA==,i=4096', 'latin1')));
        } else {
          socket.end(errorResponse('28P01', 'password authentication failed for user "bob"'));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (auth) => `postgresql://${auth}@127.0.0.1:${port}/app`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a server that wants a password', () => {
  const servers: Array<{ close: () => Promise<void> }> = [];
  const savedPassword = process.env.PGPASSWORD;
  // pg falls back to PGPASSWORD: without it, the URL's password is all there is.
  delete process.env.PGPASSWORD;

  afterAll(async () => {
    if (savedPassword !== undefined) process.env.PGPASSWORD = savedPassword;
    for (const server of servers) await server.close();
  });

  test('none given (SCRAM): ConfigurationError password_missing from the backend and migrate, not a plain Error', async () => {
    const server = await passwordServer('sasl');
    servers.push(server);
    const backend = new PrismaBackend({ connectionString: server.url('bob'), connectTimeoutMs: 5_000 });
    try {
      const error = await rejection(() => backend.getContext('a'));
      expectConfiguration(error, 'password_missing', /asks for a password and none was given.*PGPASSWORD/);
      expect((error as Error).message).toMatch(/^PrismaBackend\.getContext\("a"\): /);
      expect((error as Error).cause).toBeInstanceOf(Error);
    } finally {
      await backend.close();
    }
    expectConfiguration(await rejection(() => migrate({ connectionString: server.url('bob'), connectTimeoutMs: 5_000 })), 'password_missing', /PGPASSWORD/);
  });

  test('none given (cleartext, refused with 28P01): still says the password is missing', async () => {
    const server = await passwordServer('cleartext');
    servers.push(server);
    const backend = new PrismaBackend({ connectionString: server.url('bob'), connectTimeoutMs: 5_000 });
    try {
      expectConfiguration(await rejection(() => backend.getContext('a')), 'password_missing', /none was given/);
    } finally {
      await backend.close();
    }
  });

  test('a wrong one (28P01): ConfigurationError authentication_failed, "check the password"', async () => {
    const server = await passwordServer('cleartext');
    servers.push(server);
    const backend = new PrismaBackend({ connectionString: server.url('bob:wrong'), connectTimeoutMs: 5_000 });
    try {
      const error = await rejection(() => backend.setContext('a', { x: 1 }, 1));
      expectConfiguration(error, 'authentication_failed', /refused the password.*28P01.*check the password in the connection string/);
      expect((error as Error).cause).toMatchObject({ code: '28P01' });
    } finally {
      await backend.close();
    }
  });

  test('the CLI prints one line with the code and what to fix, no stack trace, and exits 1', async () => {
    const server = await passwordServer('sasl');
    servers.push(server);
    for (const command of ['migrate', 'stats']) {
      const io = recordingIo({});
      expect(await main([command, '--url', server.url('bob')], io), command).toBe(1);
      expect(io.stderr.split('\n'), `${command}: one line`).toHaveLength(1);
      expect(io.stderr, command).toMatch(new RegExp(`^chord-sync ${command}: .*none was given.*\\[misconfigured\\]$`));
      expect(io.stderr, command).not.toMatch(/\n\s+at /);
    }
  });
});

describe.skipIf(url === undefined)(`an unknown database or role on a PostgreSQL server${skipNote(noServer)}`, () => {
  const missingDb = `chord_missing_${randomBytes(4).toString('hex')}`;
  // Built from the run's own URL: its user and password (a container's superuser is not
  // `postgres` with trust auth), another database or role.
  const withDatabase = (database: string, user?: { name: string; password: string }): string => {
    const u = new URL(url as string);
    u.pathname = `/${database}`;
    if (user !== undefined) {
      u.username = user.name;
      u.password = user.password;
    }
    return u.toString();
  };
  const runDatabase = (): string => decodeURIComponent(new URL(url as string).pathname.slice(1));

  test('unknown database (3D000): ConfigurationError database_missing on { connectionString }, { prisma }, migrate and the CLI', async () => {
    const target = withDatabase(missingDb);
    const backend = new PrismaBackend({ connectionString: target });
    try {
      const error = await rejection(() => backend.getContext('a'));
      expectConfiguration(error, 'database_missing', /check the database name/);
      expect((error as Error).message).toContain(missingDb);
    } finally {
      await backend.close();
    }
    const pool = new pg.Pool({ connectionString: target, max: 1 });
    pool.on('error', () => {});
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    try {
      expectConfiguration(await rejection(() => new PrismaBackend({ prisma }).getContext('a')), 'database_missing', /check the database name/);
    } finally {
      await prisma.$disconnect();
      await pool.end();
    }
    expectConfiguration(await rejection(() => migrate({ connectionString: target })), 'database_missing', /check the database name/);
    const io = recordingIo({});
    expect(await main(['migrate', '--url', target], io)).toBe(1);
    expect(io.stderr).toMatch(/^chord-sync migrate: .*does not exist.*\[misconfigured\]$/);
  });

  // A role that may not log in is refused with 28000 on every server, trust or password: an
  // unknown role on a password server is refused earlier, as a wrong password (28P01, tested above).
  test('a role that may not log in (28000): ConfigurationError access_denied naming the user to check', async () => {
    const role = { name: `nologin_${randomBytes(4).toString('hex')}`, password: randomBytes(12).toString('hex') };
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE "${role.name}" NOLOGIN PASSWORD '${role.password}'`);
      const backend = new PrismaBackend({ connectionString: withDatabase(runDatabase(), role) });
      try {
        const error = await rejection(() => backend.getContext('a'));
        expectConfiguration(error, 'access_denied', /check the user name/);
        expect((error as Error).message).toContain(role.name);
      } finally {
        await backend.close();
      }
    } finally {
      await admin.query(`DROP ROLE IF EXISTS "${role.name}"`);
      await admin.end();
    }
  });
});

describe('tables missing', () => {
  for (const target of prismaTargets()) {
    test(`${target.label}: ConfigurationError not_provisioned, "run chord-sync migrate", from the backend and the engine`, async () => {
      const backend = await target.harness.makeBackend({ clock: Date.now });
      try {
        const schema = target.inspector.schemaOf(backend);
        await target.inspector.query(`DROP TABLE "${schema}".chord_deltas, "${schema}".chord_contexts`);
        expectConfiguration(await rejection(() => backend.getContext('a')), 'not_provisioned', /run `chord-sync migrate`/);
        expectConfiguration(await rejection(() => backend.listDeltas()), 'not_provisioned', /run `chord-sync migrate`/);
        expectConfiguration(await rejection(() => new Chord({ backend }).setContext('a', { x: 1 })), 'not_provisioned', /chord-sync migrate/);
      } finally {
        await target.harness.dispose?.(backend);
      }
    });
  }
});

describe('a statement the database refuses', () => {
  for (const target of prismaTargets()) {
    test(`${target.label}: a check violation raised by a trigger is StatementError with its SQLSTATE, not an outage to retry`, async () => {
      const backend = await target.harness.makeBackend({ clock: Date.now });
      try {
        const schema = target.inspector.schemaOf(backend);
        const chord = new Chord({ backend });
        await chord.setContext('guarded', { n: 1 });
        const fn = `"${schema}".chord_refuse_${randomBytes(3).toString('hex')}`;
        await target.inspector.query(
          `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by test' USING ERRCODE = 'check_violation'; END $$`,
        );
        await target.inspector.query(`CREATE TRIGGER refuse BEFORE UPDATE ON "${schema}".chord_contexts FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
        const error = await rejection(() => chord.updateContext('guarded', { n: 2 }));
        expect(error).toBeInstanceOf(StatementError);
        expect(error).not.toBeInstanceOf(BackendUnavailableError);
        expect(error).toMatchObject({ code: 'statement_failed', sqlstate: '23514' });
        expect((error as Error).message).toMatch(/"guarded"/);
        expect((await chord.getContext('guarded'))?.context).toEqual({ n: 1 });
      } finally {
        await target.harness.dispose?.(backend);
      }
    });
  }
});
