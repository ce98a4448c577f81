// The engine's TracingChannels (api.md "Telemetry"): each method publishes start/end and
// asyncStart/asyncEnd (or error) with one message object holding contextId; nothing is traced
// while nobody subscribes; scheduled cleanups report like direct calls; and the OpenTelemetry
// bridge of docs/telemetry.md, run as written, makes the spans it promises.
import { tracingChannel } from 'node:diagnostics_channel';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Span, type SpanOptions, type Tracer, type TracerProvider, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Chord, CHORD_CHANNELS, NotFoundError, TRACED_METHODS, type ChordTraceContext } from '../../src/index.js';
import { REPO_ROOT } from '../support/build.js';

type EventName = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error';
interface Seen {
  readonly event: EventName;
  readonly message: ChordTraceContext;
  readonly snapshot: ChordTraceContext;
}

const unsubscribes: Array<() => void> = [];
afterEach(() => {
  for (const undo of unsubscribes.splice(0)) undo();
});

/** Subscribes to every event of `chord-sync:<method>` (by name, as a user would) and records them in order. */
function record(method: string): Seen[] {
  const seen: Seen[] = [];
  const on = (event: EventName) => (message: ChordTraceContext) => void seen.push({ event, message, snapshot: { ...message } });
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') };
  const channel = tracingChannel<ChordTraceContext, ChordTraceContext>(`chord-sync:${method}`);
  channel.subscribe(handlers);
  unsubscribes.push(() => channel.unsubscribe(handlers));
  return seen;
}

describe('chord-sync:<method> tracing channels', () => {
  test('the channels api.md names, and watch', () => {
    expect([...TRACED_METHODS].sort()).toEqual(['cleanup', 'deleteContext', 'getContext', 'setContext', 'syncContext', 'updateContext', 'watch']);
  });

  test('a call publishes start, end, asyncStart, asyncEnd on one message holding contextId and, at the end, the result', async () => {
    const chord = new Chord();
    const seen = record('setContext');
    const result = await chord.setContext('room:1', { a: 1 });
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const message = seen[0]!.message;
    for (const s of seen) expect(s.message).toBe(message);
    expect(seen[0]!.snapshot).toEqual({ method: 'setContext', contextId: 'room:1' });
    expect(seen[3]!.snapshot.result).toBe(result);
  });

  test('a call that throws publishes error with the ChordError, then asyncStart and asyncEnd', async () => {
    const chord = new Chord();
    const seen = record('updateContext');
    await expect(chord.updateContext('missing', { a: 1 })).rejects.toBeInstanceOf(NotFoundError);
    expect(seen.map((s) => s.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(seen[2]!.snapshot.error).toBeInstanceOf(NotFoundError);
    expect(seen[2]!.snapshot.contextId).toBe('missing');
  });

  test('getContext, deleteContext, syncContext, cleanup and watch publish on their own channels', async () => {
    const chord = new Chord();
    await chord.setContext('c', { v: 1 });
    await chord.updateContext('c', { v: 2 });
    const get = record('getContext');
    const sync = record('syncContext');
    const cleanup = record('cleanup');
    const watch = record('watch');
    const del = record('deleteContext');
    await chord.getContext('c');
    const synced = await chord.syncContext('c', 1);
    const report = await chord.cleanup({ contextId: 'c' });
    await chord.cleanup();
    const controller = new AbortController();
    const updates = chord.watch('c', { version: null, signal: controller.signal });
    const first = await updates.next();
    controller.abort();
    await updates.return?.();
    await chord.deleteContext('c');

    expect(get.map((s) => s.snapshot)).toContainEqual(expect.objectContaining({ method: 'getContext', contextId: 'c' }));
    // (watch makes its own syncContext calls too: find this call's end by its result.)
    expect(sync.find((s) => s.event === 'asyncEnd' && s.snapshot.result === synced)?.snapshot).toMatchObject({ method: 'syncContext', contextId: 'c' });
    expect(synced.kind).toBe('delta');
    // cleanup: contextId only when the run is limited to one; the report is the result.
    const cleanupEnds = cleanup.filter((s) => s.event === 'asyncEnd').map((s) => s.snapshot);
    expect(cleanupEnds).toHaveLength(2);
    expect(cleanupEnds[0]).toMatchObject({ method: 'cleanup', contextId: 'c', result: report });
    expect(cleanupEnds[1]).not.toHaveProperty('contextId');
    // watch returns its iterator at once: start and end around its creation.
    expect(watch.slice(0, 2).map((s) => s.event)).toEqual(['start', 'end']);
    expect(watch[0]!.snapshot).toMatchObject({ method: 'watch', contextId: 'c' });
    expect(first.done).toBe(false);
    expect(del.map((s) => s.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(del[3]!.snapshot).toMatchObject({ contextId: 'c', result: true });
  });

  test('scheduled cleanup runs are reported on chord-sync:cleanup like direct calls', async () => {
    const chord = new Chord();
    const seen = record('cleanup');
    const schedule = chord.startCleanup({ intervalMs: 10 });
    try {
      await vi.waitFor(() => expect(seen.some((s) => s.event === 'asyncEnd')).toBe(true), { timeout: 10_000, interval: 10 });
    } finally {
      await schedule.stop();
    }
    const end = seen.find((s) => s.event === 'asyncEnd');
    expect(end?.snapshot).toMatchObject({ method: 'cleanup', result: expect.objectContaining({ contextsDeleted: 0 }) });
  });

  test('with nobody subscribed, nothing is traced: the method runs without tracePromise or a message object', async () => {
    const chord = new Chord();
    const channel = CHORD_CHANNELS.getContext;
    expect(channel.hasSubscribers).toBe(false);
    const tracePromise = vi.spyOn(channel, 'tracePromise');
    try {
      expect(await chord.getContext('none')).toBeNull();
      expect(tracePromise).not.toHaveBeenCalled();
      const seen = record('getContext');
      expect(channel.hasSubscribers).toBe(true);
      await chord.getContext('none');
      expect(tracePromise).toHaveBeenCalledTimes(1);
      expect(seen).toHaveLength(4);
    } finally {
      tracePromise.mockRestore();
    }
  });
});

/** A TracerProvider that keeps every span it makes, for checking what the bridge does. */
class RecordingSpan {
  readonly attributes: Record<string, unknown> = {};
  readonly exceptions: unknown[] = [];
  status: { code: number; message?: string } | undefined;
  ended = false;
  constructor(readonly name: string, options: SpanOptions | undefined) {
    Object.assign(this.attributes, options?.attributes ?? {});
  }
  setAttribute(key: string, value: unknown): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(values: Record<string, unknown>): this {
    Object.assign(this.attributes, values);
    return this;
  }
  recordException(exception: unknown): void {
    this.exceptions.push(exception);
  }
  setStatus(status: { code: number; message?: string }): this {
    this.status = status;
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  spanContext() {
    return { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  updateName(): this {
    return this;
  }
}

function telemetryDocBlock(): string {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'telemetry.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## OpenTelemetry'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error('docs/telemetry.md: no ```ts block under "## OpenTelemetry"');
  return match[1];
}

test('docs/telemetry.md: the OpenTelemetry bridge, run as written, makes a span per call with its attributes and error status', async () => {
  const spans: RecordingSpan[] = [];
  const tracer = {
    startSpan: (name: string, options?: SpanOptions) => {
      const span = new RecordingSpan(name, options);
      spans.push(span);
      return span as unknown as Span;
    },
    startActiveSpan: () => {
      throw new Error('not used by the bridge');
    },
  } as unknown as Tracer;
  const provider: TracerProvider = { getTracer: () => tracer };
  trace.setGlobalTracerProvider(provider);
  // Inside the repository, so the block's bare imports resolve from its node_modules.
  const cache = join(REPO_ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'chord-telemetry-'));
  try {
    const file = join(dir, 'chord-telemetry.mjs');
    writeFileSync(file, telemetryDocBlock());
    await import(pathToFileURL(file).href);

    const chord = new Chord();
    await chord.setContext('room:9', { a: 1 });
    await chord.updateContext('room:9', { a: 2 });
    await chord.syncContext('room:9', 1);
    await expect(chord.syncContext('nowhere', 1)).rejects.toBeInstanceOf(NotFoundError);
    await chord.cleanup();

    const named = (name: string) => spans.filter((s) => s.name === name);
    expect(named('chord-sync setContext')).toHaveLength(1);
    expect(named('chord-sync setContext')[0]).toMatchObject({ ended: true, attributes: { 'chord_sync.context_id': 'room:9' } });
    const syncs = named('chord-sync syncContext');
    expect(syncs).toHaveLength(2);
    expect(syncs[0]!.attributes).toEqual({ 'chord_sync.context_id': 'room:9', 'chord_sync.sync.kind': 'delta' });
    expect(syncs[1]).toMatchObject({ ended: true, status: { code: 2 } });
    expect(syncs[1]!.exceptions[0]).toBeInstanceOf(NotFoundError);
    expect(named('chord-sync cleanup')[0]!.attributes).toEqual({
      'chord_sync.cleanup.contexts_deleted': 0,
      'chord_sync.cleanup.deltas_deleted': 0,
    });
    expect(spans.every((s) => s.ended)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    trace.disable();
  }
});
