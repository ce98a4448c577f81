import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Readable } from 'node:stream';
import { ValidationError } from '../errors.js';
import { describe } from '../validation.js';
import { setRemoteAddress } from './remote-address.js';
import type { SyncHandler } from './sync-handler.js';

/**
 * A Node request listener: `http.createServer(listener)`, Express's `app.use(listener)`, Fastify's
 * raw req/res, and `http2.createSecureServer({ allowHTTP1: true, … }, listener)` (which hands it
 * HTTP/2 streams and, after an ALPN fallback, HTTP/1.1 requests) or `http2.createServer(listener)`.
 */
export type NodeRequestListener = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * Headers that HTTP/2 forbids (RFC 9113 §8.2.2): node:http2 throws on them, and a handler written
 * for HTTP/1.1 may well set `connection: keep-alive`. On HTTP/2 they mean nothing, so they are dropped.
 */
const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function isHttp2(req: NodeRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

function plainError(res: NodeResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = status === 400 ? 'invalid_argument' : 'internal';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code, message } }));
}

function origin(req: NodeRequest): string {
  // HTTP/2 has `:scheme` and `:authority` instead of the socket's TLS state and a Host header.
  if (isHttp2(req)) return `${req.scheme === 'https' ? 'https' : 'http'}://${req.authority ?? req.headers.host ?? 'localhost'}`;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  return `${encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
}

function toRequest(req: NodeRequest, signal: AbortSignal): Request {
  const url = new URL(req.url ?? '/', origin(req));
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    // HTTP/2 pseudo-headers (:path, :method…) are not headers to a Request.
    if (!name.startsWith(':')) headers.append(name, raw[i + 1]!);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(url, {
    method,
    headers,
    signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  } as RequestInit);
}

function drained(res: NodeResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function serve(handler: SyncHandler, req: NodeRequest, res: NodeResponse): Promise<void> {
  const abort = new AbortController();
  // Http2ServerResponse has no `destroyed`, so whether the response can still be written is
  // tracked here, the same way for both protocols.
  let closed = false;
  // 'close' before the response finished: the client went away, the socket broke, or (HTTP/2)
  // the stream was reset. That ends the request's signal, hence its `watch`, and the body is
  // cancelled below.
  res.once('close', () => {
    closed = true;
    // `writableEnded`, not `writableFinished`: Http2ServerResponse reports a reset stream as finished.
    if (!res.writableEnded) abort.abort();
  });

  let request: Request;
  try {
    request = toRequest(req, abort.signal);
    setRemoteAddress(request, req.socket?.remoteAddress);
  } catch (error) {
    plainError(res, 400, `unreadable request: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  let response: Response;
  try {
    response = await handler(request);
  } catch {
    plainError(res, 500, 'internal error while serving the request');
    return;
  }

  const setCookies = response.headers.getSetCookie();
  const http2 = isHttp2(req);
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie' && !(http2 && CONNECTION_HEADERS.has(name))) res.setHeader(name, value);
  }
  if (setCookies.length > 0) res.setHeader('set-cookie', setCookies);
  res.statusCode = response.status;
  if (response.body === null || req.method === 'HEAD') {
    await response.body?.cancel();
    res.end();
    return;
  }

  const reader = response.body.getReader();
  const cancel = (): void => void reader.cancel().catch(() => {});
  if (abort.signal.aborted) cancel();
  else abort.signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || closed) break;
      // Backpressure: the next chunk is read only once the socket took this one, so an SSE stream
      // never queues more than one update for a slow client.
      // (Both response classes take a Uint8Array; their `write` overloads just differ in shape.)
      if (!(res as { write(chunk: Uint8Array): boolean }).write(value)) await drained(res);
    }
    if (!closed) res.end();
  } catch {
    res.destroy();
  } finally {
    abort.signal.removeEventListener('abort', cancel);
    if (closed) cancel();
  }
}

/**
 * Adapts a Web-standard handler (such as {@link createSyncHandler}'s) to `node:http` and
 * `node:http2` (its compatibility API: `http2.createSecureServer({ allowHTTP1: true, … }, listener)`
 * serves HTTP/2 and, to clients that offer only HTTP/1.1 in ALPN, HTTP/1.1). The request's `signal`
 * aborts when the client's connection closes or (HTTP/2) its stream is reset, which ends an SSE
 * stream and its `watch`; a response body is written with backpressure. On HTTP/2 the headers
 * HTTP/2 forbids (`connection`, `keep-alive`, `transfer-encoding`…) are left out of the response.
 */
export function toNodeHandler(handler: SyncHandler): NodeRequestListener {
  if (typeof handler !== 'function') throw new ValidationError('handler', `must be a function (request) => Promise<Response>, got ${describe(handler)}`);
  return (req, res) => {
    void serve(handler, req, res);
  };
}
