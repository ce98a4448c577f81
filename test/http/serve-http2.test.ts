/**
 * `chord-sync serve --tls-cert --tls-key` (HTTPS: HTTP/2 with an HTTP/1.1 fallback) and `--http2`
 * (HTTP/2 only; cleartext h2c without TLS), with a certificate made at test time.
 */
import { writeFileSync } from 'node:fs';
import type { ClientHttp2Session } from 'node:http2';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SseParser, type SseEvent } from '../../src/client/sse-parser.js';
import { DEMO_BOARD_ID, runServe } from '../../src/cli/commands/serve.js';
import { recordingIo } from '../cli/io.js';
import { waitFor, within } from './support.js';
import { NO_OPENSSL, type TestCertificate, h2Request, h2Session as openH2Session, https1Get, makeCertificate } from './tls.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BOARD_PATH = `/contexts/${encodeURIComponent(DEMO_BOARD_ID)}`;

/** Starts `chord-sync serve` with `args` on a free port; resolves to the URL it printed. */
async function serve(args: string[]): Promise<{ url: string; stdout: () => string }> {
  const io = recordingIo({});
  const stop = new AbortController();
  const running = runServe(['--port', '0', ...args], io, stop.signal);
  cleanups.push(async () => {
    stop.abort();
    expect(await within(running, 10_000, 'serve to stop')).toBe(0);
  });
  await waitFor(() => /open (https?:\/\/\S+)\//.test(io.stdout) || io.stderr !== '', 15_000, 'the URL to be printed');
  expect(io.stderr).toBe('');
  return { url: /open (https?:\/\/\S+)\//.exec(io.stdout)![1]!, stdout: () => io.stdout };
}

function h2Session(url: string, certificate?: TestCertificate): ClientHttp2Session {
  const client = openH2Session(url, certificate);
  cleanups.push(() => client.close());
  return client;
}

const NOTE = { id: 'n1', note: { text: 'over HTTP/2', x: 10, y: 20, color: '#fff8c5' } };

describe.skipIf(NO_OPENSSL !== undefined)(`chord-sync serve over TLS${NO_OPENSSL === undefined ? '' : ` (skipped: ${NO_OPENSSL})`}`, () => {
  let certificate: TestCertificate;
  beforeAll(() => {
    certificate = makeCertificate();
  });
  afterAll(() => certificate?.remove());

  test('--tls-cert/--tls-key: the page and the board over HTTP/2, a write over HTTP/2 arrives on an HTTP/2 SSE stream, and HTTP/1.1 clients still get the page', async () => {
    const { url, stdout } = await serve(['--tls-cert', certificate.certFile, '--tls-key', certificate.keyFile]);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(stdout()).toContain('HTTP/2');
    const client = h2Session(url, certificate);

    const page = await h2Request(client, { ':path': '/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);

    const events: SseEvent[] = [];
    const parser = new SseParser((event) => events.push(event));
    const stream = client.request({ ':path': BOARD_PATH, accept: 'text/event-stream' });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => parser.push(chunk));
    stream.on('error', () => {});
    cleanups.push(() => stream.close());
    await waitFor(() => events.length >= 1, 15_000, 'the board on the stream');
    expect(JSON.parse(events[0]!.data)).toMatchObject({ kind: 'full', context: { context: { notes: {} } } });

    // A write on the sync route, as the page's client sends it.
    const body = { kind: 'update', merge: { notes: { [NOTE.id]: NOTE.note } }, unset: [], clientId: 'http2-test', writeId: 1 };
    const write = await h2Request(client, { ':method': 'POST', ':path': BOARD_PATH, 'content-type': 'application/json' }, JSON.stringify(body));
    expect(write.status).toBe(200);
    await waitFor(() => events.length >= 2, 15_000, 'the write on the stream');
    expect(JSON.parse(events[1]!.data)).toMatchObject({ kind: 'delta', version: 2 });

    const fallback = await https1Get(`${url}${BOARD_PATH}`, certificate);
    expect(fallback.httpVersion).toBe('1.1');
    expect(fallback.status).toBe(200);
    expect(JSON.parse(fallback.body)).toMatchObject({ kind: 'full', context: { version: 2, context: { notes: { n1: NOTE.note } } } });
  });

  test('--http2 with TLS: HTTP/2 only, a client that offers only HTTP/1.1 gets no board', async () => {
    const { url, stdout } = await serve(['--tls-cert', certificate.certFile, '--tls-key', certificate.keyFile, '--http2']);
    expect(stdout()).toContain('HTTP/2 only');
    const answer = await h2Request(h2Session(url, certificate), { ':path': BOARD_PATH });
    expect(answer.status).toBe(200);
    // node:http2 answers such a client with a bare 403 of its own.
    const refused = await https1Get(`${url}${BOARD_PATH}`, certificate);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/ALPN/);
  });

  test('bad TLS flags are usage errors (exit 2) naming the flag and the file', async () => {
    const garbage = join(certificate.certFile, '..', 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const missing = join(certificate.certFile, '..', 'no-such-file.pem');
    const cases: Array<[string[], RegExp]> = [
      [['--tls-cert', certificate.certFile], /--tls-key: is needed with --tls-cert/],
      [['--tls-key', certificate.keyFile], /--tls-cert: is needed with --tls-key/],
      [['--tls-cert', missing, '--tls-key', certificate.keyFile], /--tls-cert.*no-such-file\.pem.*ENOENT/],
      [['--tls-cert', certificate.certFile, '--tls-key', missing], /--tls-key.*no-such-file\.pem.*ENOENT/],
      [['--tls-cert', garbage, '--tls-key', certificate.keyFile], /--tls-cert\/--tls-key.*garbage\.pem.*not a PEM certificate/],
      // The certificate given as its own key: readable, PEM, and still not a key.
      [['--tls-cert', certificate.certFile, '--tls-key', certificate.certFile], /--tls-cert\/--tls-key.*cert\.pem/],
    ];
    for (const [args, message] of cases) {
      const io = recordingIo({});
      expect(await runServe(['--port', '0', ...args], io, new AbortController().signal), args.join(' ')).toBe(2);
      expect(io.stderr).toMatch(message);
      expect(io.stdout).toBe('');
    }
  });
});

test('--http2 without TLS: cleartext HTTP/2 (h2c, prior knowledge) serves the page and the board', async () => {
  const { url, stdout } = await serve(['--http2']);
  expect(url).toMatch(/^http:\/\//);
  expect(stdout()).toContain('h2c');
  const client = h2Session(url);
  const page = await h2Request(client, { ':path': '/' });
  expect(page.status).toBe(200);
  const board = await h2Request(client, { ':path': BOARD_PATH });
  expect(JSON.parse(board.body)).toMatchObject({ kind: 'full', context: { contextId: DEMO_BOARD_ID } });
});
