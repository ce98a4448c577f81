import { hasChangeNotifier } from '../backend.js';
import type { ChangeNotice, ChangeSubscription, ChordBackend } from '../backend.js';
import { ValidationError } from '../errors.js';
import { describe, validateContextId, validateOptions, validateVersion } from '../validation.js';
import type { LiveSyncAnswer, LiveSyncRead, LiveUpdate, LiveWatch, WatchOptions, WatchStart } from './types.js';

/** Default `watchPollMs`: how often `watch` re-reads on a backend without change notices. */
export const DEFAULT_WATCH_POLL_MS = 1000;
/** Longest accepted `watchPollMs` (the most a `setInterval` takes). */
export const MAX_WATCH_POLL_MS = 2 ** 31 - 1;

const WATCH_OPTION_KEYS = new Set(['version', 'epoch', 'signal']);

/** Throws `ValidationError` unless `value` is a poll interval in ms (an integer 1 … 2³¹−1). */
export function validateWatchPollMs(value: unknown, argument: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_WATCH_POLL_MS) {
    throw new ValidationError(argument, `must be an integer from 1 to ${MAX_WATCH_POLL_MS} (ms), got ${describe(value)}`);
  }
}

interface Position {
  readonly version: number;
  readonly epoch: string | undefined;
}

interface ResolvedWatchOptions {
  readonly position: Position | null;
  readonly signal: AbortSignal | undefined;
}

function resolveWatchOptions(options: unknown): ResolvedWatchOptions {
  if (options === undefined) return { position: null, signal: undefined };
  const { version, epoch, signal } = validateOptions(options, 'options', 'watch', WATCH_OPTION_KEYS);
  if (version !== undefined && version !== null) validateVersion(version, 'options.version');
  if (epoch !== undefined && typeof epoch !== 'string') {
    throw new ValidationError('options.epoch', `must be a string, got ${describe(epoch)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ValidationError('options.signal', `must be an AbortSignal, got ${describe(signal)}`);
  }
  const position = version === undefined || version === null ? null : { version, epoch };
  return { position, signal };
}

/**
 * One watched context id: a generation counter bumped by every notice (or poll tick), and the
 * reads of the current generation, one per starting point, shared by every watcher that starts
 * there. Watchers pull: each reads from its own last yielded state when its consumer asks, so a
 * slow consumer gets one update spanning all it missed, and nothing queues.
 */
class Channel {
  readonly contextId: string;
  /** Bumped on every notice; a watcher that read at generation g waits for g to change. */
  generation = 0;
  /** Bumped on every deletion notice: a watcher that saw a different count reads from nothing. */
  deletions = 0;
  watchers = 0;
  /**
   * Where the context stood by a read that started in generation `generation` (`null`: missing).
   * While no notice has come since, a watcher there has nothing to read: any later change bumps.
   */
  head: { readonly generation: number; readonly at: Position | null } | undefined;
  #reads = new Map<string, Promise<LiveSyncAnswer | null>>();
  #wakers = new Set<() => void>();
  #poll: ReturnType<typeof setInterval> | undefined;

  constructor(contextId: string) {
    this.contextId = contextId;
  }

  bump(deleted: boolean): void {
    this.generation++;
    if (deleted) this.deletions++;
    this.#reads = new Map();
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const wake of wakers) wake();
  }

  /** The answer from `from` to now, read once per generation and starting point. */
  read(sync: LiveSyncRead, from: Position | null): Promise<LiveSyncAnswer | null> {
    const key = from === null ? 'null' : JSON.stringify([from.version, from.epoch ?? null]);
    const reads = this.#reads;
    let pending = reads.get(key);
    if (pending === undefined) {
      const generation = this.generation;
      pending = sync(this.contextId, from?.version ?? null, from?.epoch);
      reads.set(key, pending);
      pending.then((answer) => {
        if (this.generation === generation) this.head = { generation, at: positionAfter(answer, from) };
      }, () => undefined);
      // A failed read is not kept: the next watcher to ask tries again.
      pending.catch(() => {
        if (reads.get(key) === pending) reads.delete(key);
      });
    }
    return pending;
  }

  /** Resolves once `generation` is no longer `seen`, or `signal` is aborted. */
  changed(seen: number, signal: AbortSignal): Promise<void> {
    if (this.generation !== seen || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#wakers.delete(wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      this.#wakers.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  startPolling(intervalMs: number): void {
    this.#poll ??= setInterval(() => this.bump(false), intervalMs);
  }

  stopPolling(): void {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
  }
}

function samePosition(a: Position | null, b: Position | null): boolean {
  if (a === null || b === null) return a === b;
  return a.version === b.version && a.epoch === b.epoch;
}

/** Where a holder at `from` stands after `answer`. */
function positionAfter(answer: LiveSyncAnswer | null, from: Position | null): Position | null {
  if (answer === null) return null;
  switch (answer.kind) {
    case 'full':
      return { version: answer.context.version, epoch: answer.context.epoch };
    case 'delta':
      return { version: answer.version, epoch: answer.epoch ?? from?.epoch };
    case 'no_change':
      return { version: answer.version, epoch: answer.epoch ?? from?.epoch };
  }
}

interface HubSubscription {
  readonly subscription: ChangeSubscription;
  readonly ready: Promise<void>;
}

const ABORTED = Symbol('aborted');

/** `promise`, or {@link ABORTED} as soon as `signal` is aborted (the promise is left to settle alone). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise<T | typeof ABORTED>((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The fan-out behind `chord.watch`, one per `Chord`: one backend subscription (while anything is
 * watched), one {@link Channel} per watched context id, and reads through the engine's sync, so a
 * change costs one read and one merged delta however many watchers share a starting point.
 */
export class LiveHub {
  readonly #backend: ChordBackend;
  readonly #sync: LiveSyncRead;
  readonly #pollMs: number;
  readonly #changed: (contextId: string | null) => void;
  readonly #channels = new Map<string, Channel>();
  #watchers = 0;
  #subscription: HubSubscription | undefined;

  /**
   * `changed` is told of every notice before any watcher reads for it (`null`: notices may have been
   * lost, anything may have changed), so that `sync` can refuse to answer a read made for the
   * notice with a read that started before it: that answer may be from before the change, and
   * every watcher on it would then wait for a notice that has already come.
   */
  constructor(backend: ChordBackend, sync: LiveSyncRead, pollMs: number, changed: (contextId: string | null) => void = () => {}) {
    this.#backend = backend;
    this.#sync = sync;
    this.#pollMs = pollMs;
    this.#changed = changed;
  }

  /** See `Chord.watch`. Validates its arguments now; reads nothing until the first `next()`. */
  watch(contextId: string, options?: WatchOptions): LiveWatch {
    validateContextId(contextId);
    const { position, signal } = resolveWatchOptions(options);
    return new Watcher(this, contextId, position, signal);
  }

  /** Registers a watcher of `contextId`; resolves once notices flow (or at once when polling). */
  async attach(contextId: string): Promise<Channel> {
    let channel = this.#channels.get(contextId);
    if (channel === undefined) {
      channel = new Channel(contextId);
      this.#channels.set(contextId, channel);
    }
    channel.watchers++;
    this.#watchers++;
    if (!hasChangeNotifier(this.#backend)) {
      channel.startPolling(this.#pollMs);
      return channel;
    }
    try {
      await this.#subscribe().ready;
    } catch (error) {
      this.detach(channel);
      throw error;
    }
    return channel;
  }

  detach(channel: Channel): void {
    channel.watchers--;
    this.#watchers--;
    if (channel.watchers === 0) {
      channel.stopPolling();
      if (this.#channels.get(channel.contextId) === channel) this.#channels.delete(channel.contextId);
    }
    if (this.#watchers === 0 && this.#subscription !== undefined) {
      const { subscription } = this.#subscription;
      this.#subscription = undefined;
      // Nobody is left to tell about a failure to close; the backend releases what it can.
      subscription.close().catch(() => undefined);
    }
  }

  read(channel: Channel, from: Position | null): Promise<LiveSyncAnswer | null> {
    return channel.read(this.#sync, from);
  }

  #subscribe(): HubSubscription {
    if (this.#subscription !== undefined) return this.#subscription;
    const backend = this.#backend;
    if (!hasChangeNotifier(backend)) throw new Error('unreachable: no ChangeNotifier');
    const subscription = backend.subscribeChanges({
      change: (notice) => this.#onChange(notice),
      resync: () => this.#onResync(),
    });
    const entry: HubSubscription = { subscription, ready: subscription.ready };
    this.#subscription = entry;
    subscription.ready.catch(() => {
      // A subscription that never became ready is dropped, so the next watch tries anew.
      if (this.#subscription === entry) {
        this.#subscription = undefined;
        subscription.close().catch(() => undefined);
      }
    });
    return entry;
  }

  #onChange(notice: ChangeNotice): void {
    this.#changed(notice.contextId);
    const channel = this.#channels.get(notice.contextId);
    if (channel === undefined) return;
    // A notice of a version the last read already found (a late or repeated poke) brings nothing
    // new: a deletion in between would have come as its own notice first, and bumped.
    const head = channel.head;
    if (notice.version !== null && head !== undefined && head.generation === channel.generation && head.at !== null && notice.version <= head.at.version) {
      return;
    }
    channel.bump(notice.version === null);
  }

  #onResync(): void {
    this.#changed(null);
    for (const channel of this.#channels.values()) channel.bump(false);
  }
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** One `watch`: pulls from its channel when its consumer calls `next()`. */
class Watcher implements LiveWatch {
  readonly #hub: LiveHub;
  readonly #contextId: string;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  #position: Position | null;
  #channel: Channel | undefined;
  #deletions = 0;
  #started = false;
  #done = false;
  #queue: Promise<unknown> = Promise.resolve();
  #start: { promise: Promise<WatchStart>; resolve(how: WatchStart): void; reject(error: unknown): void } | undefined;
  #startSettled = false;

  constructor(hub: LiveHub, contextId: string, position: Position | null, signal: AbortSignal | undefined) {
    this.#hub = hub;
    this.#contextId = contextId;
    this.#position = position;
    this.#signal = signal === undefined ? this.#stop.signal : AbortSignal.any([signal, this.#stop.signal]);
    this.#signal.addEventListener('abort', () => this.#finish(), { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LiveUpdate> {
    return this;
  }

  next(): Promise<IteratorResult<LiveUpdate, undefined>> {
    // Calls made before the previous one settled wait for it: each answer starts where the last ended.
    const result = this.#queue.then(() => this.#pull());
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<LiveUpdate, undefined>> {
    this.#stop.abort();
    return DONE;
  }

  started(): Promise<WatchStart> {
    if (this.#start === undefined) {
      let resolve!: (how: WatchStart) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<WatchStart>((yes, no) => {
        resolve = yes;
        reject = no;
      });
      this.#start = { promise, resolve, reject };
      if (this.#done) this.#settleStart('ended');
    }
    return this.#start.promise;
  }

  /** The first read answered (`present`/`missing`), the watch ended, or (an error) it failed to start. */
  #settleStart(how: WatchStart | { error: unknown }): void {
    if (this.#startSettled) return;
    const start = this.#start;
    if (start === undefined) {
      // Nobody asked yet: remember the outcome for a later started().
      if (typeof how === 'string') this.#start = { promise: Promise.resolve(how), resolve() {}, reject() {} };
      else {
        const failed = Promise.reject(how.error);
        failed.catch(() => undefined);
        this.#start = { promise: failed, resolve() {}, reject() {} };
      }
    } else if (typeof how === 'string') start.resolve(how);
    else start.reject(how.error);
    this.#startSettled = true;
  }

  async #pull(): Promise<IteratorResult<LiveUpdate, undefined>> {
    if (this.#done || this.#signal.aborted) return this.#finish();
    try {
      let channel = this.#channel;
      if (!this.#started) {
        this.#started = true;
        // Notices must flow before the catch-up read, so no change between the two is missed.
        const attaching = this.#hub.attach(this.#contextId);
        const attached = await unlessAborted(attaching, this.#signal);
        if (attached === ABORTED) {
          // The watcher was registered even so; leave once the registration completes.
          attaching.then((late) => this.#hub.detach(late), () => undefined);
          return this.#finish();
        }
        channel = attached;
        this.#channel = channel;
        this.#deletions = channel.deletions;
        // Aborted while attaching: the abort listener ran before there was a channel to leave.
        if (this.#done) {
          this.#hub.detach(channel);
          return DONE;
        }
      }
      if (channel === undefined) return this.#finish();
      for (;;) {
        const seen = channel.generation;
        const deletions = channel.deletions;
        // After a deletion notice, a version held may belong to the id's previous life (a backend
        // without epochs cannot tell), so read from nothing: the answer is the whole context or none.
        const from = deletions === this.#deletions ? this.#position : null;
        const head = channel.head;
        if (head !== undefined && head.generation === seen && from === this.#position && samePosition(head.at, from)) {
          this.#settleStart(head.at === null ? 'missing' : 'present');
          await channel.changed(seen, this.#signal);
          if (this.#signal.aborted) return this.#finish();
          continue;
        }
        const answer = await unlessAborted(this.#hub.read(channel, from), this.#signal);
        if (answer === ABORTED) return this.#finish();
        this.#settleStart(answer === null ? 'missing' : 'present');
        this.#deletions = deletions;
        const update = this.#advance(answer);
        if (update !== null) return { done: false, value: update };
        await channel.changed(seen, this.#signal);
        if (this.#signal.aborted) return this.#finish();
      }
    } catch (error) {
      this.#settleStart({ error });
      this.#finish();
      throw error;
    }
  }

  /** The update from the held position to `answer`, moving the position; `null` when nothing changed. */
  #advance(answer: LiveSyncAnswer | null): LiveUpdate | null {
    const held = this.#position;
    if (answer === null) {
      if (held === null) return null;
      this.#position = null;
      return { kind: 'deleted', contextId: this.#contextId };
    }
    switch (answer.kind) {
      case 'no_change':
        // A watch started from a version without its epoch learns the epoch it holds.
        if (held !== null && held.epoch === undefined && answer.epoch !== undefined) {
          this.#position = { version: held.version, epoch: answer.epoch };
        }
        return null;
      case 'full': {
        const { version, epoch } = answer.context;
        // Read from nothing after a deletion notice, the answer may be the very state held.
        if (held !== null && epoch !== undefined && held.epoch === epoch && held.version === version) return null;
        this.#position = { version, epoch };
        return answer;
      }
      case 'delta': {
        const epoch = answer.epoch ?? held?.epoch;
        this.#position = { version: answer.version, epoch };
        return {
          kind: 'delta',
          delta: answer.delta,
          fromVersion: answer.fromVersion,
          version: answer.version,
          epoch: epoch ?? '',
        };
      }
    }
  }

  #finish(): IteratorReturnResult<undefined> {
    if (!this.#done) {
      this.#done = true;
      this.#settleStart('ended');
      if (!this.#stop.signal.aborted) this.#stop.abort();
      const channel = this.#channel;
      this.#channel = undefined;
      if (channel !== undefined) this.#hub.detach(channel);
    }
    return DONE;
  }
}
