import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { BackendUnavailableError } from '../../errors.js';
import { tagsBySlot } from './keys.js';
import { isStaleTopology, mapRedisError, replyCode } from './redis-errors.js';

/** A Lua script and its SHA1, sent by EVALSHA (EVAL once a node answers NOSCRIPT). */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/** The part of a node-redis client (`createClient`) the backend uses. */
export interface RedisNodeClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: ReadonlyArray<string>, options?: { timeout?: number; abortSignal?: AbortSignal }): Promise<unknown>;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  duplicate(overrides?: Record<string, unknown>): RedisNodeClient;
  on(event: string, listener: (...args: any[]) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  sSubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  readonly options?: Record<string, unknown>;
}

/** A node of a Cluster as node-redis lists it. */
export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly client?: RedisNodeClient;
}

/** The part of a node-redis Cluster client (`createCluster`) the backend uses. */
export interface RedisClusterClient {
  readonly isOpen: boolean;
  readonly slots: ReadonlyArray<{ readonly master: RedisClusterNode } | undefined>;
  readonly masters: ReadonlyArray<RedisClusterNode>;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: ReadonlyArray<string>, options?: { timeout?: number; abortSignal?: AbortSignal }): Promise<unknown>;
  nodeClient(node: RedisClusterNode): Promise<RedisNodeClient>;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  readonly _options?: { readonly defaults?: Record<string, unknown> };
  readonly _slots?: { rediscover(startWith: RedisNodeClient): Promise<void> };
}

/** One node's share of the data: its buckets and a way to send it a command. */
export interface Shard {
  readonly name: string;
  readonly buckets: readonly string[];
  /** The buckets as the per-shard scripts take them: one comma-separated argument. */
  readonly bucketList: string;
  send(args: ReadonlyArray<string>): Promise<unknown>;
}

/** Where a subscriber connects and what it listens to. */
export interface SubscriptionTarget {
  readonly name: string;
  /** A new, unconnected client to that node (never reconnecting by itself). */
  makeClient(): RedisNodeClient;
  readonly channels: readonly string[];
  /** `SUBSCRIBE` on one Redis, `SSUBSCRIBE` on a Cluster (sharded pub/sub). */
  readonly sharded: boolean;
}

/** How the backend reaches Redis, one Redis or a Cluster, behind one interface. */
export interface RedisConnection {
  readonly cluster: boolean;
  /** Runs a per-context script on the node serving `keys` (all in one slot). */
  evalOn(script: LuaScript, keys: readonly string[], args: readonly string[], operation: () => string): Promise<unknown>;
  /** Sends a one-key command to the node serving `key`. */
  commandOn(key: string, args: readonly string[], operation: () => string): Promise<unknown>;
  /** Every master with its buckets, for per-shard scripts. */
  shards(operation: string): Promise<Shard[]>;
  /** Runs a per-shard script on one shard. */
  evalOnShard(shard: Shard, script: LuaScript, args: readonly string[], operation: string): Promise<unknown>;
  /** The nodes to subscribe on; their connections are named `clientName` (seen in CLIENT LIST). */
  subscriptionTargets(channelOf: (bucket: string) => string, operation: string, clientName: string): Promise<SubscriptionTarget[]>;
  close(): Promise<void>;
}

interface Timeouts {
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
}

/**
 * Bounds every command in time, cheaply: node-redis' per-command `timeout` makes an AbortSignal
 * and a timer for each command (hundreds of µs on a busy machine, the bench showed) and stops
 * counting once the command is written, so a server that hangs after reading it is never timed
 * out. Here, commands issued in the same short window share one AbortSignal (node-redis drops a
 * command still waiting to be written when it fires, so it never runs late), and one shared timer
 * rejects calls whose reply is past due.
 */
export class CommandBounds {
  readonly #ms: number;
  readonly #window: number;
  readonly #pending = new Set<{ readonly at: number; readonly reject: (error: Error) => void }>();
  #sweeper: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;
  #signalUntil = 0;

  constructor(ms: number) {
    this.#ms = ms;
    this.#window = Math.max(10, Math.min(250, Math.floor(ms / 10)));
  }

  /** The signal for a command sent now: aborts between `ms` and `ms` + one window from now. */
  signal(): AbortSignal {
    const now = Date.now();
    if (this.#signal === undefined || now >= this.#signalUntil) {
      const controller = new AbortController();
      setMaxListeners(0, controller.signal);
      setTimeout(() => controller.abort(new Error(`not sent within ${this.#ms} ms`)), this.#ms + this.#window).unref();
      this.#signal = controller.signal;
      this.#signalUntil = now + this.#window;
    }
    return this.#signal;
  }

  /**
   * `promise`, or a rejection once its reply is `ms` late. With `onError`, a failure (the command's
   * or the lateness) settles the result with what `onError` returns or throws instead: one promise
   * per call rather than a chain of `.catch`es (each a microtask on every call's path).
   */
  track<T>(promise: Promise<T>, onError?: (error: unknown) => T | PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail =
        onError === undefined
          ? reject
          : (error: unknown) => {
              try {
                resolve(onError(error));
              } catch (mapped) {
                reject(mapped);
              }
            };
      const entry = { at: Date.now() + this.#ms, reject: fail };
      this.#pending.add(entry);
      this.#sweeper ??= setInterval(() => this.#sweep(), this.#window).unref();
      promise.then(
        (value) => {
          this.#pending.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          // Already failed as late: the sweep settled it.
          if (this.#pending.delete(entry)) fail(error);
        },
      );
    });
  }

  #sweep(): void {
    const now = Date.now();
    for (const entry of this.#pending) {
      if (entry.at <= now) {
        this.#pending.delete(entry);
        entry.reject(new Error(`no reply within ${this.#ms} ms`));
      }
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

function evalWithFallback(send: (args: string[]) => Promise<unknown>, script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
  return send(['EVALSHA', script.sha, String(keys.length), ...keys, ...args]).catch((error: unknown) => {
    if (replyCode(error) !== 'NOSCRIPT') throw error;
    return send(['EVAL', script.source, String(keys.length), ...keys, ...args]);
  });
}

/**
 * Opens `open()` once, bounded by `timeoutMs`; a failed or timed-out attempt is a
 * `BackendUnavailableError`, and the next call tries again (or waits on the same attempt).
 */
class Opener {
  #attempt: Promise<unknown> | undefined;
  // node-redis marks a client open as soon as connect() starts, before a Cluster's slot map is
  // read; calls made meanwhile must wait for the attempt, so "opened" is tracked here.
  #opened = false;

  get opened(): boolean {
    return this.#opened;
  }

  async open(operation: string, isOpen: () => boolean, open: () => Promise<unknown>, firstError: (fn: (e: unknown) => void) => () => void, timeoutMs: number): Promise<void> {
    if (this.#opened && isOpen()) return;
    this.#attempt ??= open()
      .then(() => {
        this.#opened = true;
      })
      .finally(() => {
        this.#attempt = undefined;
      });
    const attempt = this.#attempt;
    attempt.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    let stop: (() => void) | undefined;
    // Errors are raw here; the caller maps them, naming its operation.
    try {
      await Promise.race([
        attempt,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
          stop = firstError(reject);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      stop?.();
    }
  }
}

/** What a connection's client (one Redis or a Cluster) offers for opening and closing it. */
interface OpenableClient {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
}

/**
 * What both connections share: opening the client the backend made once, bounded (a client given
 * to it must be connected already), the command deadline, and closing.
 */
abstract class ConnectionBase<C extends OpenableClient> {
  protected readonly client: C;
  protected readonly own: boolean;
  protected readonly timeouts: Timeouts;
  protected readonly bounds: CommandBounds;
  readonly #opener = new Opener();
  #closed = false;

  constructor(client: C, own: boolean, timeouts: Timeouts) {
    this.client = client;
    this.own = own;
    this.timeouts = timeouts;
    this.bounds = new CommandBounds(timeouts.commandTimeoutMs);
  }

  /** Why a client given to the backend cannot be used: it is not connected. */
  protected abstract readonly notConnected: string;

  /** Subscribes `fn` to the client's errors for the length of a connection attempt; returns how to unsubscribe. */
  protected abstract onFirstError(fn: (error: unknown) => void): () => void;

  /** True when a command can go out now, with no wait for a connection (and none closed). */
  protected get openNow(): boolean {
    return !this.#closed && (this.#opener.opened || !this.own) && this.client.isOpen;
  }

  protected async ready(operation: string): Promise<void> {
    if (this.#closed) throw new Error('the backend is closed');
    if (!this.own) {
      if (this.client.isOpen) return;
      throw new Error(this.notConnected);
    }
    await this.#opener.open(
      operation,
      () => this.client.isOpen,
      () => this.client.connect(),
      (fn) => this.onFirstError(fn),
      this.timeouts.connectTimeoutMs,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.own) return;
    if (this.client.isOpen) await closeWithin(this.client, this.timeouts.commandTimeoutMs);
  }
}

/** One Redis server (or a primary behind a proxy). */
export class StandaloneConnection extends ConnectionBase<RedisNodeClient> implements RedisConnection {
  readonly cluster = false;
  protected readonly notConnected = 'the Redis client given to RedisBackend is not connected (call its connect() first)';

  protected onFirstError(fn: (error: unknown) => void): () => void {
    this.client.on('error', fn);
    return () => this.client.removeListener('error', fn);
  }

  /**
   * A ready client writes a command at its next turn (setImmediate). One that is not ready
   * (connecting or reconnecting) holds commands in its offline queue, where they could wait past
   * the timeout and then run late: those carry the shared abort signal, which drops them unsent.
   * Ready, none does: node-redis adds and removes an abort listener per command, ~5 µs, 6% of a
   * getContext round trip. What is left is a command queued in the instant before the connection
   * drops, written only after the reconnect.
   */
  #command(args: ReadonlyArray<string>): Promise<unknown> {
    return this.client.sendCommand(args, this.client.isReady ? undefined : { abortSignal: this.bounds.signal() });
  }

  #send(args: ReadonlyArray<string>, operation: string, onError?: (error: unknown) => unknown): Promise<unknown> {
    // Once open, no await before the command: each call is one round trip and nothing more.
    if (this.openNow) return this.bounds.track(this.#command(args), onError);
    return this.ready(operation).then(() => this.bounds.track(this.#command(args), onError), onError);
  }

  evalOn(script: LuaScript, keys: readonly string[], args: readonly string[], operation: () => string): Promise<unknown> {
    const fail = (error: unknown): never => {
      throw mapRedisError(error, operation());
    };
    // EVALSHA, then EVAL once if the node does not have the script (NOSCRIPT).
    return this.#send(['EVALSHA', script.sha, String(keys.length), ...keys, ...args], 'RedisBackend', (error) =>
      replyCode(error) === 'NOSCRIPT' ? this.#send(['EVAL', script.source, String(keys.length), ...keys, ...args], 'RedisBackend', fail) : fail(error),
    );
  }

  commandOn(_key: string, args: readonly string[], operation: () => string): Promise<unknown> {
    return this.#send(args, 'RedisBackend', (error) => {
      throw mapRedisError(error, operation());
    });
  }

  async shards(): Promise<Shard[]> {
    return [{ name: 'redis', buckets: [''], bucketList: '_', send: (args) => this.#send(args, 'shard') }];
  }

  async evalOnShard(shard: Shard, script: LuaScript, args: readonly string[], operation: string): Promise<unknown> {
    try {
      await this.ready(operation);
      return await evalWithFallback((a) => shard.send(a), script, [], args);
    } catch (error) {
      throw mapRedisError(error, operation);
    }
  }

  async subscriptionTargets(channelOf: (bucket: string) => string, _operation: string, clientName: string): Promise<SubscriptionTarget[]> {
    return [
      {
        name: 'redis',
        makeClient: () => this.client.duplicate({ name: clientName, socket: { ...socketOptionsOf(this.client), reconnectStrategy: false, connectTimeout: this.timeouts.connectTimeoutMs } }),
        channels: [channelOf('')],
        sharded: false,
      },
    ];
  }
}

function socketOptionsOf(client: RedisNodeClient): Record<string, unknown> {
  const socket = client.options?.socket;
  return socket !== null && typeof socket === 'object' ? (socket as Record<string, unknown>) : {};
}

/** A Redis Cluster: per-context commands go to the slot's master, per-shard scripts to each master. */
export class ClusterConnection extends ConnectionBase<RedisClusterClient> implements RedisConnection {
  readonly cluster = true;
  protected readonly notConnected = 'the Redis Cluster client given to RedisBackend is not connected (call its connect() first)';
  #rediscovering: Promise<void> | undefined;

  protected onFirstError(): () => void {
    return () => {};
  }

  /**
   * Asks a reachable master for the slot map again. node-redis does so by itself only on a MOVED
   * reply, which a master that died never sends: without this, its slots would stay pointed at it
   * after a replica took over.
   */
  refreshTopology(): Promise<void> {
    this.#rediscovering ??= (async () => {
      try {
        const slots = this.client._slots;
        if (slots === undefined) return;
        const live = this.client.masters.find((m) => m.client?.isReady) ?? this.client.masters[0];
        const client = live?.client;
        if (client !== undefined) await slots.rediscover(client);
      } catch {
        // The next failing call tries again.
      } finally {
        this.#rediscovering = undefined;
      }
    })();
    return this.#rediscovering;
  }

  #failed(error: unknown): void {
    if (replyCode(error) === '' || isStaleTopology(error)) void this.refreshTopology();
  }

  #send(key: string | undefined, args: ReadonlyArray<string>, operation: string): Promise<unknown> {
    const send = () =>
      this.bounds.track(this.client.sendCommand(key, false, args, { abortSignal: this.bounds.signal() })).catch((error: unknown) => {
        this.#failed(error);
        throw error;
      });
    if (this.openNow) return send();
    return this.ready(operation).then(send);
  }

  evalOn(script: LuaScript, keys: readonly string[], args: readonly string[], operation: () => string): Promise<unknown> {
    return evalWithFallback((a) => this.#send(keys[0], a, 'RedisBackend'), script, keys, args).catch((error: unknown) => {
      throw mapRedisError(error, operation());
    });
  }

  commandOn(key: string, args: readonly string[], operation: () => string): Promise<unknown> {
    return this.#send(key, args, 'RedisBackend').catch((error: unknown) => {
      throw mapRedisError(error, operation());
    });
  }

  async shards(operation: string): Promise<Shard[]> {
    try {
      await this.ready(operation);
    } catch (error) {
      throw mapRedisError(error, operation);
    }
    const tags = tagsBySlot();
    const byMaster = new Map<string, { node: RedisClusterNode; buckets: string[] }>();
    const slots = this.client.slots;
    for (let slot = 0; slot < slots.length; slot++) {
      const master = slots[slot]?.master;
      if (master === undefined) {
        throw new BackendUnavailableError(`${operation}: the Redis Cluster serves no node for slot ${slot}`);
      }
      let entry = byMaster.get(master.address);
      if (entry === undefined) {
        entry = { node: master, buckets: [] };
        byMaster.set(master.address, entry);
      }
      entry.buckets.push(tags[slot] as string);
    }
    return [...byMaster.values()].map(({ node, buckets }) => ({
      name: node.address,
      buckets,
      bucketList: buckets.join(','),
      send: async (args) => {
        return this.bounds.track(this.client.nodeClient(node).then((client) => client.sendCommand(args, { abortSignal: this.bounds.signal() })));
      },
    }));
  }

  async evalOnShard(shard: Shard, script: LuaScript, args: readonly string[], operation: string): Promise<unknown> {
    try {
      return await evalWithFallback((a) => shard.send(a), script, [], args);
    } catch (error) {
      this.#failed(error);
      throw mapRedisError(error, `${operation} on ${shard.name}`);
    }
  }

  async subscriptionTargets(channelOf: (bucket: string) => string, operation: string, clientName: string): Promise<SubscriptionTarget[]> {
    await this.refreshTopology();
    const shards = await this.shards(operation);
    const defaults = this.client._options?.defaults ?? {};
    const socketDefaults = (defaults.socket ?? {}) as Record<string, unknown>;
    const { createClient } = await import('redis');
    return shards.map((shard) => {
      const [host, port] = splitAddress(shard.name);
      return {
        name: shard.name,
        makeClient: () =>
          createClient({
            ...defaults,
            name: clientName,
            socket: { ...socketDefaults, host, port, reconnectStrategy: false, connectTimeout: this.timeouts.connectTimeoutMs },
          }) as unknown as RedisNodeClient,
        channels: shard.buckets.map(channelOf),
        sharded: true,
      };
    });
  }
}

/** Closes gracefully (pending replies first), or destroys the connections once `ms` have passed. */
async function closeWithin(client: { close(): Promise<unknown>; destroy(): void }, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    client.close().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  if (!graceful) {
    try {
      client.destroy();
    } catch {
      // Already closed.
    }
  }
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
