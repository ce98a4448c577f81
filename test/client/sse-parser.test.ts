import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { type SseEvent, SseParser } from '../../src/client/sse-parser.js';

function parse(chunks: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event));
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

describe('SseParser', () => {
  test('reads event, id and data; a blank line dispatches; comments are skipped', () => {
    const text = ': connected\n\nevent: full\nid: e1:3\ndata: {"a":1}\n\n: heartbeat\n\nevent: deleted\ndata: {}\n\n';
    expect(parse([text])).toEqual([
      { event: 'full', id: 'e1:3', data: '{"a":1}' },
      { event: 'deleted', id: undefined, data: '{}' },
    ]);
  });

  test('several data lines join with \\n; one space after the colon is dropped, a second is kept; no event field is "message"', () => {
    expect(parse(['data:a\ndata:  b\ndata\n\n'])).toEqual([{ event: 'message', id: undefined, data: 'a\n b\n' }]);
  });

  test('CRLF, CR and LF all end lines, also when a CRLF is split across chunks', () => {
    expect(parse(['event: x\r', '\ndata: 1\r\rdata: 2\n\n'])).toEqual([
      { event: 'x', id: undefined, data: '1' },
      { event: 'message', id: undefined, data: '2' },
    ]);
  });

  test('an event without data is not dispatched; an unfinished event at the end is not either', () => {
    expect(parse(['event: full\n\nevent: full\ndata: 1'])).toEqual([]);
  });

  test('law: any split of a stream into chunks gives the same events as the whole', () => {
    const line = fc.oneof(
      fc.constantFrom('', ': heartbeat', 'retry: 10'),
      fc.string({ maxLength: 12 }).filter((s) => !/[\r\n]/.test(s)).map((s) => `data: ${s}`),
      fc.constantFrom('event: full', 'event: delta', 'id: e:1', 'id: '),
    );
    const newline = fc.constantFrom('\n', '\r\n', '\r');
    const stream = fc
      .array(fc.tuple(line, newline), { maxLength: 30 })
      .map((lines) => lines.map(([l, nl]) => l + nl).join(''));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let from = 0;
        for (const p of points) {
          chunks.push(text.slice(from, p));
          from = p;
        }
        chunks.push(text.slice(from));
        // A CR at the very end may still be followed by an LF: compare with the stream given whole.
        expect(parse(chunks)).toEqual(parse([text]));
      }),
      { numRuns: 500 },
    );
  });
});
