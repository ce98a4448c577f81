/**
 * Databases that are not there: a refused port, a server that accepts and never answers, and the
 * check that a call failed the way an unreachable database must (BackendUnavailableError, code
 * 'unavailable', the driver's error kept as cause).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { expect } from 'vitest';
import { BackendUnavailableError } from '../../src/errors.js';

/** A port on 127.0.0.1 nothing listens on: bound once, then released. */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A PostgreSQL URL of {@link refusedPort}. */
export async function refusedUrl(): Promise<string> {
  return `postgresql://postgres@127.0.0.1:${await refusedPort()}/postgres`;
}

/** A TCP server that accepts connections and never sends a byte: a database that hangs. */
export interface SilentServer {
  readonly port: number;
  readonly url: string;
  /** Connections accepted so far: proof a call did reach it. */
  accepted(): number;
  close(): Promise<void>;
}

export async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Awaits `call` and checks it rejected as an unreachable database does; returns the error. */
export async function expectUnavailable(call: Promise<unknown> | (() => Promise<unknown>), what = 'the call'): Promise<BackendUnavailableError> {
  const error = await (typeof call === 'function' ? call() : call).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `${what} rejects with BackendUnavailableError`).toBeInstanceOf(BackendUnavailableError);
  const e = error as BackendUnavailableError;
  expect(e.code, what).toBe('unavailable');
  expect(e.cause, `${what} keeps the driver error as cause`).toBeDefined();
  return e;
}
