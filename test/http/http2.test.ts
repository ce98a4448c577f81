/**
 * toNodeHandler on node:http2: `createSecureServer({ allowHTTP1: true })` with a self-signed
 * certificate made at test time. HTTP/2 through node:http2's client, and the ALPN fallback to
 * HTTP/1.1 through node:https, which offers only http/1.1.
 */
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SseParser, type SseEvent } from '../../src/client/sse-parser.js';
import { Chord } from '../../src/engine/chord.js';
import { createSyncHandler } from '../../src/http/index.js';
import { countingWatches } from '../support/counting-source.js';
import { waitFor, within } from './support.js';
import { NO_OPENSSL, type TestCertificate, h2Request, h2Session, https1Get, makeCertificate, startSecureServer } from './tls.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function session(url: string, certificate: TestCertificate): ClientHttp2Session {
  const client = h2Session(url, certificate);
  cleanups.push(() => client.close());
  return client;
}

/** An SSE request on an HTTP/2 stream, its events parsed as they come. */
function h2Sse(client: ClientHttp2Session, path: string): { stream: ClientHttp2Stream; events: SseEvent[]; status: Promise<number> } {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  const stream = client.request({ ':path': path, accept: 'text/event-stream' });
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => parser.push(chunk));
  stream.on('error', () => {});
  const status = new Promise<number>((resolve) => stream.on('response', (h) => resolve(Number(h[':status']))));
  return { stream, events, status: within(status, 15_000, `the answer to the stream request ${path}`) };
}

describe.skipIf(NO_OPENSSL !== undefined)(`toNodeHandler on http2.createSecureServer({ allowHTTP1: true })${NO_OPENSSL === undefined ? '' : ` (skipped: ${NO_OPENSSL})`}`, () => {
  let certificate: TestCertificate;
  beforeAll(() => {
    certificate = makeCertificate();
  });
  afterAll(() => certificate?.remove());

  test('HTTP/2: a GET answers the sync result; an unknown id is 404 with its JSON body', async () => {
    const chord = new Chord();
    await chord.setContext('room:1', { title: 'hello' });
    const server = await startSecureServer(createSyncHandler(chord), certificate);
    cleanups.push(() => server.close());
    const client = session(server.url, certificate);

    const answer = await h2Request(client, { ':path': `/contexts/${encodeURIComponent('room:1')}` });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: 'full', context: { contextId: 'room:1', context: { title: 'hello' }, version: 1 } });
    const missing = await h2Request(client, { ':path': '/contexts/nobody' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 'not_found' } });
  });

  test('HTTP/2: an SSE stream gets the current state, then a live update; a reset stream ends its watch and gives its slot back', async () => {
    const chord = new Chord();
    await chord.setContext('room:1', { n: 0 });
    const counted = countingWatches(chord);
    const server = await startSecureServer(createSyncHandler(counted.source, { maxStreams: 1, heartbeatMs: 600_000 }), certificate);
    cleanups.push(() => server.close());
    const client = session(server.url, certificate);

    const first = h2Sse(client, '/contexts/room%3A1');
    expect(await first.status).toBe(200);
    await waitFor(() => first.events.length >= 1, 15_000, 'the first event');
    expect(first.events[0]!.event).toBe('full');
    await chord.updateContext('room:1', { n: 1 });
    await waitFor(() => first.events.length >= 2, 15_000, 'the live update');
    expect(first.events[1]).toMatchObject({ event: 'delta' });
    expect(JSON.parse(first.events[1]!.data)).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
    expect(counted.open()).toBe(1);

    // While it is open, the one slot is taken.
    const refused = await h2Request(client, { ':path': '/contexts/room%3A1', accept: 'text/event-stream' });
    expect(refused.status).toBe(503);

    // RST_STREAM from the client, the session staying open: the server must notice the stream alone.
    first.stream.close();
    await waitFor(() => counted.open() === 0, 15_000, 'the watch of the reset stream to end');
    const second = h2Sse(client, '/contexts/room%3A1?version=2');
    expect(await second.status).toBe(200);
    await chord.updateContext('room:1', { n: 2 });
    await waitFor(() => second.events.length >= 1, 15_000, 'an update on the second stream');
    expect(JSON.parse(second.events[0]!.data)).toMatchObject({ kind: 'delta', fromVersion: 2, version: 3 });
    second.stream.close();
  });

  test('HTTP/2: a request body reaches the handler; headers HTTP/2 forbids are left out instead of failing the response', async () => {
    const handler = async (request: Request): Promise<Response> =>
      new Response(JSON.stringify({ method: request.method, url: request.url, body: await request.text(), host: request.headers.get('host') }), {
        status: 201,
        headers: { 'content-type': 'application/json', connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-kept': 'yes' },
      });
    const server = await startSecureServer(handler, certificate);
    cleanups.push(() => server.close());
    const client = session(server.url, certificate);

    const answer = await h2Request(client, { ':method': 'POST', ':path': '/contexts/a?x=1', 'content-type': 'application/json' }, '{"kind":"set"}');
    expect(answer.status).toBe(201);
    expect(answer.headers['x-kept']).toBe('yes');
    expect(answer.headers.connection).toBeUndefined();
    expect(answer.headers['keep-alive']).toBeUndefined();
    // The URL comes from :scheme and :authority, as a Host header would give it on HTTP/1.1.
    expect(JSON.parse(answer.body)).toEqual({ method: 'POST', url: `${server.url}/contexts/a?x=1`, body: '{"kind":"set"}', host: null });
  });

  test('HTTP/2: a write POSTed on one stream lands once (a resend with the same write id is a duplicate) and reaches an SSE stream of the same session', async () => {
    const chord = new Chord();
    await chord.setContext('room:1', { n: 0 });
    const server = await startSecureServer(createSyncHandler(chord, { authorizeWrite: () => true }), certificate);
    cleanups.push(() => server.close());
    const client = session(server.url, certificate);
    const live = h2Sse(client, '/contexts/room%3A1?version=1');
    expect(await live.status).toBe(200);

    const write = JSON.stringify({ kind: 'update', merge: { n: 5 }, unset: [], clientId: 'h2-client', writeId: 1 });
    const post = { ':method': 'POST', ':path': '/contexts/room%3A1', 'content-type': 'application/json' };
    const first = await h2Request(client, post, write);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ version: 2, duplicate: false });
    const again = await h2Request(client, post, write);
    expect(JSON.parse(again.body)).toMatchObject({ version: 2, duplicate: true });
    expect(await chord.getContext('room:1')).toMatchObject({ version: 2, context: { n: 5 } });
    await waitFor(() => live.events.length >= 1, 15_000, 'the write on the stream');
    expect(JSON.parse(live.events[0]!.data)).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
    live.stream.close();
  });

  test('HTTP/1.1 by ALPN fallback: the same server answers a sync GET and streams a live update to a client that offers only http/1.1', async () => {
    const chord = new Chord();
    await chord.setContext('room:1', { n: 0 });
    const counted = countingWatches(chord);
    const server = await startSecureServer(createSyncHandler(counted.source), certificate);
    cleanups.push(() => server.close());

    const get = await https1Get(`${server.url}/contexts/room%3A1`, certificate);
    expect(get.httpVersion).toBe('1.1');
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body)).toMatchObject({ kind: 'full', context: { context: { n: 0 }, version: 1 } });

    const events: SseEvent[] = [];
    const parser = new SseParser((event) => events.push(event));
    const req = httpsRequest(`${server.url}/contexts/room%3A1?version=1`, { ca: certificate.cert, agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      expect(res.httpVersion).toBe('1.1');
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => parser.push(chunk));
    });
    req.on('error', () => {});
    req.end();
    cleanups.push(() => req.destroy());
    await waitFor(() => counted.open() === 1, 15_000, 'the stream to open');
    await chord.updateContext('room:1', { n: 1 });
    await waitFor(() => events.length >= 1, 15_000, 'the live update over HTTP/1.1');
    expect(JSON.parse(events[0]!.data)).toMatchObject({ kind: 'delta', fromVersion: 1, version: 2 });
    req.destroy();
    await waitFor(() => counted.open() === 0, 15_000, 'the watch of the closed connection to end');
  });
});
