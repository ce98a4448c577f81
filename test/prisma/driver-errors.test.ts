// The one function that turns driver errors into chord-sync errors, on the shapes pg, Node sockets,
// pg-pool and Prisma's driver adapters really throw.
import { describe, expect, test } from 'vitest';
import { mapDriverError } from '../../src/backends/prisma/driver-errors.js';
import { BackendUnavailableError, NotFoundError, VersionConflictError } from '../../src/errors.js';

function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { name: 'error', code, severity: 'ERROR' });
}

function prismaRawError(cause: Record<string, unknown>): Error {
  const adapterError = Object.assign(new Error(String(cause.kind)), { name: 'DriverAdapterError', cause });
  const error = Object.assign(new Error('Invalid `prisma.$queryRawUnsafe()` invocation:\nRaw query failed.'), {
    name: 'PrismaClientKnownRequestError',
    code: 'P2010',
    meta: { driverAdapterError: adapterError },
  });
  return error;
}

describe('mapDriverError', () => {
  test.each([
    ['pg admin shutdown (57P01)', pgError('57P01', 'terminating connection due to administrator command')],
    ['pg connection failure class 08', pgError('08006', 'connection failure')],
    ['pg too many connections (53300)', pgError('53300', 'sorry, too many clients already')],
    ['socket ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect', errno: -111 })],
    ['pg-pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['Prisma adapter: DatabaseNotReachable', prismaRawError({ kind: 'DatabaseNotReachable', host: 'h', port: 1 })],
    ['Prisma adapter: postgres 57P03', prismaRawError({ kind: 'postgres', code: '57P03', message: 'the database system is starting up' })],
    ['Prisma P1001', Object.assign(new Error("Can't reach database server"), { name: 'PrismaClientInitializationError', errorCode: 'P1001', code: 'P1001' })],
  ])('%s → BackendUnavailableError with the original as cause', (_, error) => {
    const mapped = mapDriverError(error, 'PrismaBackend.getContext("a")');
    expect(mapped).toBeInstanceOf(BackendUnavailableError);
    expect((mapped as Error).message).toMatch(/^PrismaBackend\.getContext\("a"\): the database is unavailable/);
    expect((mapped as Error).cause).toBe(error);
  });

  test('a unique or serialization failure on a compare-and-set write → VersionConflictError', () => {
    for (const error of [pgError('23505', 'duplicate key'), pgError('40001', 'could not serialize'), prismaRawError({ kind: 'UniqueConstraintViolation' })]) {
      const mapped = mapDriverError(error, 'PrismaBackend.writeVersion("w")', { contextId: 'w', expectedVersion: 3 });
      expect(mapped).toBeInstanceOf(VersionConflictError);
      expect(mapped).toMatchObject({ contextId: 'w', expectedVersion: 3, cause: error });
    }
  });

  test('a missing table says to migrate; any other database error is named, never passed raw', () => {
    const missing = mapDriverError(prismaRawError({ kind: 'TableDoesNotExist', table: 'chord_contexts' }), 'op');
    expect(missing).toBeInstanceOf(BackendUnavailableError);
    expect((missing as Error).message).toMatch(/chord-sync migrate/);
    const other = mapDriverError(pgError('23505', 'duplicate key value violates unique constraint'), 'op');
    expect(other).toBeInstanceOf(BackendUnavailableError);
    expect((other as Error).message).toMatch(/failed the statement \(duplicate key value/);
  });

  test('errors that are not from the driver pass through unchanged', () => {
    const bug = new TypeError('x is not a function');
    expect(mapDriverError(bug, 'op')).toBe(bug);
    const chord = new NotFoundError('a');
    expect(mapDriverError(chord, 'op')).toBe(chord);
  });
});
