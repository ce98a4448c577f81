/**
 * For the HTTP/2 tests: a self-signed certificate made at test time with openssl (for localhost
 * and 127.0.0.1, valid one day), an `http2.createSecureServer({ allowHTTP1: true })` around a
 * sync handler on 127.0.0.1, and bounded requests through node:http2's and node:https's clients.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type ClientHttp2Session, type Http2SecureServer, type IncomingHttpHeaders, connect, createSecureServer } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SyncHandler, toNodeHandler } from '../../src/http/index.js';
import { within } from './support.js';

const OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8', timeout: 10_000 });
/** Why the TLS tests are skipped, or undefined when openssl can make their certificate. */
export const NO_OPENSSL = OPENSSL.status === 0 ? undefined : `openssl is not available (${OPENSSL.error?.message ?? `exit ${OPENSSL.status}`}; apt-get install openssl)`;

/** A certificate and its key (PEM), with the files they are in. */
export interface TestCertificate {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
  remove(): void;
}

/** Makes a self-signed EC certificate for localhost and 127.0.0.1 in a new temporary directory. */
export function makeCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'chord-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const result = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1', '-keyout', keyFile, '-out', certFile],
    { encoding: 'utf8', timeout: 30_000 },
  );
  if (result.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make a certificate: ${result.error?.message ?? result.stderr}`);
  }
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    certFile,
    keyFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A running HTTP/2 server with HTTP/1.1 fallback; `close()` ends every connection. */
export interface SecureTestServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly server: Http2SecureServer;
  close(): Promise<void>;
}

/** Starts `handler` on 127.0.0.1 over TLS, HTTP/2 or (ALPN fallback) HTTP/1.1. */
export async function startSecureServer(handler: SyncHandler, certificate: TestCertificate): Promise<SecureTestServer> {
  const server = createSecureServer({ allowHTTP1: true, cert: certificate.cert, key: certificate.key }, toNodeHandler(handler));
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** An HTTP/2 session to `url` (trusting `certificate` for https); close it when done. */
export function h2Session(url: string, certificate?: TestCertificate): ClientHttp2Session {
  const client = connect(url, certificate === undefined ? {} : { ca: certificate.cert });
  client.on('error', () => {}); // a test that needs the session fails on its own request
  return client;
}

/** A whole answer read off an HTTP/2 stream. */
export interface H2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One request on `client` (`:path` and the other headers given), its answer read whole, bounded. */
export function h2Request(client: ClientHttp2Session, headers: Record<string, string>, body?: string): Promise<H2Answer> {
  return within(
    new Promise<H2Answer>((resolve, reject) => {
      const stream = client.request(headers);
      let responseHeaders: IncomingHttpHeaders = {};
      let text = '';
      stream.setEncoding('utf8');
      stream.on('response', (h) => (responseHeaders = h));
      stream.on('data', (chunk: string) => (text += chunk));
      stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: text }));
      stream.on('error', reject);
      stream.end(body);
    }),
    15_000,
    `HTTP/2 ${headers[':method'] ?? 'GET'} ${headers[':path']}`,
  );
}

/** A GET through node:https, which offers only http/1.1 in ALPN, on a connection of its own. */
export function https1Get(url: string, certificate: TestCertificate): Promise<{ httpVersion: string; status: number; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ca: certificate.cert, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ httpVersion: res.httpVersion, status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    }),
    15_000,
    `HTTP/1.1 GET ${url}`,
  );
}
