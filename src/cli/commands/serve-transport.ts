import { readFileSync } from 'node:fs';
import { type RequestListener, type Server, createServer } from 'node:http';
import { type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, createServer as createH2cServer, createSecureServer } from 'node:http2';
import { createSecureContext } from 'node:tls';
import { ValidationError } from '../../errors.js';

/**
 * How `chord-sync serve` speaks to browsers:
 * - `http1`: plain HTTP/1.1 (the default);
 * - TLS (`--tls-cert`/`--tls-key`): HTTPS, HTTP/2 for clients that offer it in ALPN and HTTP/1.1
 *   for the others, unless `http2Only` (`--http2`) refuses those;
 * - `h2c` (`--http2` without TLS): cleartext HTTP/2 with prior knowledge, for a proxy in front
 *   that speaks HTTP/2 to its back ends. Browsers speak HTTP/2 only over TLS.
 */
export type DemoTransport =
  | { readonly kind: 'http1' }
  | { readonly kind: 'tls'; readonly cert: Buffer; readonly key: Buffer; readonly http2Only: boolean }
  | { readonly kind: 'h2c' };

/** The server a demo listens with; all three emit 'connection' with each TCP socket. */
export type DemoHttpServer = Server | Http2SecureServer | Http2Server;

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ValidationError(flag, `cannot read ${JSON.stringify(path)}${code === undefined ? '' : ` (${code})`}`);
  }
}

/**
 * The transport the flags ask for. Both TLS files are read and checked here (a PEM certificate
 * and the private key that goes with it), so a bad flag is a usage error naming the file, not a
 * failure once the server is listening.
 *
 * @throws ValidationError naming the flag (and the file) that is missing, unreadable or not PEM.
 */
export function demoTransport(flags: { tlsCert?: string | undefined; tlsKey?: string | undefined; http2?: boolean | undefined }): DemoTransport {
  const { tlsCert, tlsKey } = flags;
  if (tlsCert === undefined && tlsKey === undefined) return flags.http2 === true ? { kind: 'h2c' } : { kind: 'http1' };
  if (tlsCert === undefined || tlsCert === '') throw new ValidationError('--tls-cert', `is needed with --tls-key: the certificate file (PEM) that goes with the key`);
  if (tlsKey === undefined || tlsKey === '') throw new ValidationError('--tls-key', `is needed with --tls-cert: the private key file (PEM) of the certificate`);
  const cert = readPem('--tls-cert', tlsCert);
  const key = readPem('--tls-key', tlsKey);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    // OpenSSL's reason (e.g. "no start line", "key values mismatch") says which part is wrong.
    throw new ValidationError('--tls-cert/--tls-key', `${JSON.stringify(tlsCert)} and ${JSON.stringify(tlsKey)} are not a PEM certificate and its private key: ${(error as Error).message}`);
  }
  return { kind: 'tls', cert, key, http2Only: flags.http2 === true };
}

/** A server of the transport's kind around `listener` (not listening yet). */
export function createDemoHttpServer(transport: DemoTransport, listener: RequestListener): DemoHttpServer {
  // The demo's listener uses only what node:http's request/response and node:http2's
  // compatibility API share (writeHead, setHeader, end, the request as a readable stream).
  const both = listener as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void;
  switch (transport.kind) {
    case 'http1':
      return createServer(listener);
    case 'tls':
      return createSecureServer({ cert: transport.cert, key: transport.key, allowHTTP1: !transport.http2Only }, both);
    case 'h2c':
      return createH2cServer(both);
  }
}

/** `http` or `https`, for the URL the demo prints. */
export function transportScheme(transport: DemoTransport): 'http' | 'https' {
  return transport.kind === 'tls' ? 'https' : 'http';
}
