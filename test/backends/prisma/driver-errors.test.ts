// The one function that turns driver errors into chord-sync errors, on the shapes pg, Node sockets,
// pg-pool and Prisma's driver adapters really throw. It reads codes and where the executor caught
// the error, never the text: the last test checks that for any message.
import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { type DriverErrorOrigin, mapDriverError, markDriverError } from '../../../src/backends/prisma/driver-errors.js';
import {
  BackendUnavailableError,
  ChordError,
  ConfigurationError,
  type ConfigurationProblem,
  NotFoundError,
  PoolExhaustedError,
  StatementError,
  TimeoutError,
  VersionConflictError,
} from '../../../src/errors.js';

/** What pg throws for an ErrorResponse: pg-protocol's DatabaseError with the SQLSTATE as `code`. */
function pgError(code: string, message = `server error ${code}`): Error {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = code;
  error.severity = 'ERROR';
  return error;
}

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, syscall: 'connect', errno: -111 });
}

/** A Prisma raw-query failure over a driver adapter: P2010 wrapping a DriverAdapterError wrapping the adapter's error info. */
function prismaRawError(cause: Record<string, unknown>): Error {
  const adapterError = Object.assign(new Error(String(cause.kind)), { name: 'DriverAdapterError', cause });
  return Object.assign(new Error('Invalid `prisma.$queryRawUnsafe()` invocation:\nRaw query failed.'), {
    name: 'PrismaClientKnownRequestError',
    code: 'P2010',
    meta: { driverAdapterError: adapterError },
  });
}

function prismaInitError(code: string): Error {
  return Object.assign(new Error(`Prisma ${code}`), { name: 'PrismaClientInitializationError', errorCode: code });
}

function marked<E>(error: E, origin: DriverErrorOrigin): E {
  markDriverError(error, origin);
  return error;
}

const OP = 'PrismaBackend.getContext("a")';

describe('mapDriverError', () => {
  test.each([
    ['pg admin shutdown (57P01)', pgError('57P01')],
    ['pg connection failure, class 08', pgError('08006')],
    ['pg too many connections (53300)', pgError('53300')],
    ['socket ECONNREFUSED', socketError('ECONNREFUSED')],
    ['socket ECONNRESET mid-statement', marked(socketError('ECONNRESET'), { phase: 'statement', elapsedMs: 3 })],
    ['a connection failing without a code while connecting', marked(new Error('Connection terminated unexpectedly'), { phase: 'connect' })],
    ['a statement failing without a code (the connection dropped)', marked(new Error('Connection terminated'), { phase: 'statement', elapsedMs: 1 })],
    ['a Prisma raw query failing without a code', marked(new Error('PGlite is closed'), { phase: 'driver' })],
    ['Prisma adapter: DatabaseNotReachable', prismaRawError({ kind: 'DatabaseNotReachable', host: 'h', port: 1 })],
    ['Prisma adapter: postgres 57P03', prismaRawError({ kind: 'postgres', code: '57P03', message: 'the database system is starting up' })],
    ['Prisma P1001', prismaInitError('P1001')],
  ])('%s → BackendUnavailableError with the original as cause', (_, error) => {
    const mapped = mapDriverError(error, OP);
    expect(mapped).toBeInstanceOf(BackendUnavailableError);
    expect(mapped).not.toBeInstanceOf(PoolExhaustedError);
    expect((mapped as ChordError).code).toBe('unavailable');
    expect((mapped as Error).message).toMatch(/^PrismaBackend\.getContext\("a"\): the database is unavailable/);
    expect((mapped as Error).cause).toBe(error);
  });

  test.each<[string, unknown, ConfigurationProblem, RegExp]>([
    ['pg 28P01 (wrong password)', pgError('28P01'), 'authentication_failed', /check the password/],
    ['pg 28000 (unknown role, pg_hba)', pgError('28000'), 'access_denied', /check the user name/],
    ['pg 3D000 (unknown database)', pgError('3D000'), 'database_missing', /check the database name/],
    ['pg 42501 (no privilege)', pgError('42501'), 'permission_denied', /grant/],
    ['pg 42P01 (missing table)', pgError('42P01'), 'not_provisioned', /chord-sync migrate/],
    ['pg 3F000 (missing schema)', pgError('3F000'), 'not_provisioned', /chord-sync migrate/],
    ['pg 42703 (a column a later migration adds)', pgError('42703'), 'not_provisioned', /chord-sync migrate/],
    ['Prisma adapter AuthenticationFailed', prismaRawError({ kind: 'AuthenticationFailed', user: 'bob' }), 'authentication_failed', /check the password/],
    ['Prisma adapter DatabaseDoesNotExist', prismaRawError({ kind: 'DatabaseDoesNotExist', db: 'x' }), 'database_missing', /database name/],
    ['Prisma adapter TableDoesNotExist', prismaRawError({ kind: 'TableDoesNotExist', table: 'chord_contexts' }), 'not_provisioned', /chord-sync migrate/],
    ['Prisma P1000', prismaInitError('P1000'), 'authentication_failed', /check the password/],
    ['Prisma P1003', prismaInitError('P1003'), 'database_missing', /database name/],
    ['the server asked for a password and there was none', marked(new Error('SASL: client password must be a string'), { phase: 'connect', passwordMissing: true }), 'password_missing', /PGPASSWORD/],
  ])('%s → ConfigurationError (%s) saying what to fix', (_, error, problem, fix) => {
    const mapped = mapDriverError(error, OP);
    expect(mapped).toBeInstanceOf(ConfigurationError);
    expect(mapped).toMatchObject({ code: 'misconfigured', problem, cause: error });
    expect((mapped as Error).message).toMatch(/^PrismaBackend\.getContext\("a"\): /);
    expect((mapped as Error).message).toMatch(fix);
  });

  test('statement and lock timeouts say which one fired, with the limit the backend set', () => {
    const statement = mapDriverError(marked(pgError('57014'), { phase: 'statement', elapsedMs: 300, statementTimeoutMs: 300, lockTimeoutMs: 50 }), OP);
    expect(statement).toBeInstanceOf(TimeoutError);
    expect(statement).toMatchObject({ code: 'timeout', timeout: 'statement', timeoutMs: 300 });
    expect((statement as Error).message).toMatch(/statementTimeoutMs \(300 ms\)/);

    const lock = mapDriverError(marked(pgError('55P03'), { phase: 'statement', elapsedMs: 50, statementTimeoutMs: 300, lockTimeoutMs: 50 }), OP);
    expect(lock).toBeInstanceOf(TimeoutError);
    expect(lock).toMatchObject({ code: 'timeout', timeout: 'lock', timeoutMs: 50 });
    expect((lock as Error).message).toMatch(/lockTimeoutMs \(50 ms\)/);

    // Through Prisma the limit is the caller's: named, but not known.
    const viaPrisma = mapDriverError(prismaRawError({ kind: 'postgres', code: '57014' }), OP);
    expect(viaPrisma).toMatchObject({ code: 'timeout', timeout: 'statement', timeoutMs: undefined });
  });

  test('57014 well before the statement timeout is a cancel request, not the timeout', () => {
    const cancelled = mapDriverError(marked(pgError('57014'), { phase: 'statement', elapsedMs: 5, statementTimeoutMs: 30_000 }), OP);
    expect(cancelled).toBeInstanceOf(StatementError);
    expect(cancelled).toMatchObject({ code: 'statement_failed', sqlstate: '57014' });
  });

  test('a wait for a pooled connection that timed out while none was being opened → PoolExhaustedError naming the busy count', () => {
    const full = mapDriverError(marked(new Error('timeout exceeded when trying to connect'), { phase: 'pool-wait', busy: 4, connecting: 0, waitedMs: 250 }), OP);
    expect(full).toBeInstanceOf(PoolExhaustedError);
    expect(full).toMatchObject({ code: 'unavailable', busy: 4, waitedMs: 250 });
    expect((full as Error).message).toMatch(/pool exhausted \(4 connections busy\)/);

    const connecting = mapDriverError(marked(new Error('timeout exceeded when trying to connect'), { phase: 'pool-wait', busy: 4, connecting: 4, waitedMs: 250 }), OP);
    expect(connecting).toBeInstanceOf(BackendUnavailableError);
    expect(connecting).not.toBeInstanceOf(PoolExhaustedError);
  });

  test('a unique or serialization failure on a compare-and-set write → VersionConflictError', () => {
    for (const error of [pgError('23505'), pgError('40001'), prismaRawError({ kind: 'UniqueConstraintViolation' })]) {
      const mapped = mapDriverError(error, 'PrismaBackend.writeVersion("w")', { contextId: 'w', expectedVersion: 3 });
      expect(mapped).toBeInstanceOf(VersionConflictError);
      expect(mapped).toMatchObject({ contextId: 'w', expectedVersion: 3, cause: error });
    }
  });

  test.each([
    ['pg 23505 outside a compare-and-set', pgError('23505'), '23505'],
    ['pg 23514 (check violation)', pgError('23514'), '23514'],
    ['pg 22P02 (bad input)', pgError('22P02'), '22P02'],
    ['pg 42601 (syntax)', pgError('42601'), '42601'],
    ['Prisma adapter NullConstraintViolation', prismaRawError({ kind: 'NullConstraintViolation' }), undefined],
    ['Prisma adapter postgres 23514', prismaRawError({ kind: 'postgres', code: '23514' }), '23514'],
  ])('%s → StatementError (not retried as an outage)', (_, error, sqlstate) => {
    const mapped = mapDriverError(error, OP);
    expect(mapped).toBeInstanceOf(StatementError);
    expect(mapped).not.toBeInstanceOf(BackendUnavailableError);
    expect(mapped).toMatchObject({ code: 'statement_failed', sqlstate, cause: error });
    expect((mapped as Error).message).toMatch(/^PrismaBackend\.getContext\("a"\): the database failed the statement/);
  });

  test('errors that are not from the driver pass through unchanged', () => {
    const bug = new TypeError('x is not a function');
    expect(mapDriverError(bug, 'op')).toBe(bug);
    const chord = new NotFoundError('a');
    expect(mapDriverError(chord, 'op')).toBe(chord);
    // Without a code or a place it was caught, the text alone never makes an outage of it.
    const plain = new Error('timeout exceeded when trying to connect');
    expect(mapDriverError(plain, 'op')).toBe(plain);
  });

  test('no classification reads the message: any text gives the same class and code', () => {
    const shapes: Array<() => Error> = [
      () => pgError('23505'),
      () => pgError('57P01'),
      () => pgError('3D000'),
      () => pgError('57014'),
      () => socketError('ECONNRESET'),
      () => marked(new Error(), { phase: 'connect' }),
      () => marked(new Error(), { phase: 'pool-wait', busy: 2, connecting: 0, waitedMs: 10 }),
      () => new Error(),
    ];
    const classify = (error: unknown): string => {
      const mapped = mapDriverError(error, 'op');
      return mapped instanceof ChordError ? `${mapped.constructor.name}/${mapped.code}` : 'raw';
    };
    const baseline = shapes.map((make) => classify(make()));
    const message = fc.oneof(
      fc.string(),
      fc.constantFrom('timeout exceeded when trying to connect', 'Connection terminated', 'failed the statement', 'password authentication failed', 'PGlite is closed'),
    );
    fc.assert(
      fc.property(fc.nat(shapes.length - 1), message, (i, text) => {
        const error = (shapes[i] as () => Error)();
        error.message = text;
        expect(classify(error)).toBe(baseline[i]);
      }),
      { numRuns: 500 },
    );
  });
});
