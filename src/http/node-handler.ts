import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { ValidationError } from '../errors.js';
import { describe } from '../validation.js';
import type { SyncHandler } from './sync-handler.js';

/** A `node:http` request listener: `http.createServer(listener)`, Express's `app.use(listener)`, Fastify's raw req/res. */
export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => void;

function plainError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = status === 400 ? 'invalid_argument' : 'internal';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ error: { code, message } }));
}

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const url = new URL(req.url ?? '/', `${encrypted ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`);
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

function drained(res: ServerResponse): Promise<void> {
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

async function serve(handler: SyncHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  // 'close' before the response finished: the client went away (or the socket broke). That ends
  // the request's signal, hence its `watch`, and the body is cancelled below.
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });

  let request: Request;
  try {
    request = toRequest(req, abort.signal);
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
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value);
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
      if (done || res.destroyed) break;
      // Backpressure: the next chunk is read only once the socket took this one, so an SSE stream
      // never queues more than one update for a slow client.
      if (!res.write(value)) await drained(res);
    }
    if (!res.destroyed) res.end();
  } catch {
    res.destroy();
  } finally {
    abort.signal.removeEventListener('abort', cancel);
    if (res.destroyed) cancel();
  }
}

/**
 * Adapts a Web-standard handler (such as {@link createSyncHandler}'s) to `node:http`. The request's
 * `signal` aborts when the client's connection closes, which ends an SSE stream and its `watch`;
 * a response body is written with backpressure.
 */
export function toNodeHandler(handler: SyncHandler): NodeRequestListener {
  if (typeof handler !== 'function') throw new ValidationError('handler', `must be a function (request) => Promise<Response>, got ${describe(handler)}`);
  return (req, res) => {
    void serve(handler, req, res);
  };
}
