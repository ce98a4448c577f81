import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel';

/**
 * The `Chord` methods that publish on a `node:diagnostics_channel` `TracingChannel`, each named
 * `chord-sync:<method>` (as undici publishes `undici:request:*` and pg `pg:query`).
 */
export const TRACED_METHODS = ['setContext', 'updateContext', 'getContext', 'deleteContext', 'syncContext', 'cleanup', 'watch'] as const;

/** One of {@link TRACED_METHODS}. */
export type TracedMethod = (typeof TRACED_METHODS)[number];

/** The channel name of `method`: `chord-sync:<method>`. */
export function channelName(method: TracedMethod): `chord-sync:${TracedMethod}` {
  return `chord-sync:${method}`;
}

/**
 * The context object of every event of one call (`start`, `end`, `asyncStart`, `asyncEnd`,
 * `error`: the same object each time, so a subscriber can keep a span on it).
 */
export interface ChordTraceContext {
  /** The method called. */
  readonly method: TracedMethod;
  /** The context id the call is about; for `cleanup`, only when limited to one (`options.contextId`). */
  readonly contextId?: string;
  /** Set on `asyncEnd` (`end` for `watch`): what the call returned (for `cleanup`, its report). */
  result?: unknown;
  /** Set on `error`: what the call threw. */
  error?: unknown;
}

/** The tracing channel of each method, made once: `tracingChannel()` with a name returns new channel objects each call. */
export const CHORD_CHANNELS: Readonly<Record<TracedMethod, TracingChannel<ChordTraceContext, ChordTraceContext>>> = Object.fromEntries(
  TRACED_METHODS.map((method) => [method, tracingChannel<ChordTraceContext, ChordTraceContext>(channelName(method))]),
) as Record<TracedMethod, TracingChannel<ChordTraceContext, ChordTraceContext>>;

function traceContext(method: TracedMethod, args: readonly unknown[]): ChordTraceContext {
  const [first] = args;
  if (method === 'cleanup') {
    const contextId = (first as { contextId?: unknown } | null | undefined)?.contextId;
    return typeof contextId === 'string' ? { method, contextId } : { method };
  }
  return typeof first === 'string' ? { method, contextId: first } : { method };
}

/**
 * Wraps each of {@link TRACED_METHODS} on `prototype` (the `Chord` class's) so that a call
 * publishes on its channel, without touching the methods' bodies. With no subscriber the wrapper
 * only checks `hasSubscribers` and calls the method: no context object, no promise in between.
 */
export function traceMethods(prototype: object): void {
  for (const method of TRACED_METHODS) {
    const original = Reflect.get(prototype, method) as ((...args: unknown[]) => unknown) | undefined;
    if (typeof original !== 'function') continue;
    const channel = CHORD_CHANNELS[method];
    const traced =
      method === 'watch'
        ? function (this: unknown, ...args: unknown[]): unknown {
            if (!channel.hasSubscribers) return original.apply(this, args);
            // watch returns an iterator at once; the call traced is its creation.
            return channel.traceSync(original, traceContext(method, args), this, ...args);
          }
        : function (this: unknown, ...args: unknown[]): unknown {
            if (!channel.hasSubscribers) return original.apply(this, args);
            return channel.tracePromise(original as (...a: unknown[]) => Promise<unknown>, traceContext(method, args), this, ...args);
          };
    Object.defineProperty(traced, 'name', { value: method });
    Object.defineProperty(prototype, method, { value: traced, writable: true, configurable: true, enumerable: false });
  }
}
