import type { ChangeListener, ChangeSubscription } from '../../backend.js';
import type { RedisConnection, RedisNodeClient } from './redis-connection.js';

/** First wait before connecting the subscribers again after a break: 100 ms, doubling to {@link MAX_RETRY_MS}. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2_000;

/** Parses a notice `<version> <id>` (`-` for a deletion) published by the scripts. */
export function parseNotice(message: string): { contextId: string; version: number | null } | undefined {
  const space = message.indexOf(' ');
  if (space <= 0) return undefined;
  const head = message.slice(0, space);
  const contextId = message.slice(space + 1);
  if (head === '-') return { contextId, version: null };
  const version = Number(head);
  return Number.isSafeInteger(version) ? { contextId, version } : undefined;
}

/**
 * The `subscribeChanges` of RedisBackend. One subscriber connection per node (one on a single
 * Redis; one per master on a Cluster, each with `SSUBSCRIBE` to the notice channels of the slots
 * it serves), made without automatic reconnection: when any of them breaks, or a sharded channel
 * moves, all are dropped and made again from a fresh slot map, with backoff, and once they listen
 * again the listener's `resync()` is called, since notices published meanwhile were lost.
 */
export class ChangeSubscriber implements ChangeSubscription {
  readonly ready: Promise<void>;
  readonly #connection: RedisConnection;
  readonly #channelOf: (bucket: string) => string;
  readonly #listener: ChangeListener;
  readonly #connectTimeoutMs: number;
  readonly #clientName: string;
  #resolveReady!: () => void;
  #clients: RedisNodeClient[] = [];
  #breakSession: (() => void) | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;

  constructor(connection: RedisConnection, channelOf: (bucket: string) => string, listener: ChangeListener, connectTimeoutMs: number, clientName: string) {
    this.#clientName = clientName;
    this.#connection = connection;
    this.#channelOf = channelOf;
    this.#listener = listener;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    let first = true;
    let delay = FIRST_RETRY_MS;
    while (!this.#closed) {
      let breakSession!: () => void;
      const broken = new Promise<void>((resolve) => {
        breakSession = resolve;
      });
      this.#breakSession = breakSession;
      try {
        await this.#listen(breakSession);
        if (this.#closed) break;
        if (first) {
          first = false;
          this.#resolveReady();
        } else {
          this.#tell(() => this.#listener.resync());
        }
        delay = FIRST_RETRY_MS;
        await broken;
      } catch {
        // Retried below, after a wait.
      }
      this.#dropClients();
      if (this.#closed) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  async #listen(breakSession: () => void): Promise<void> {
    const targets = await this.#connection.subscriptionTargets(this.#channelOf, 'subscribeChanges', this.#clientName);
    const onMessage = (message: string) => {
      const notice = parseNotice(message);
      if (notice !== undefined) this.#tell(() => this.#listener.change(notice));
    };
    // Bound to this session: a dropped client of an earlier session can't break the next one.
    const broken = () => breakSession();
    const sessions = targets.map((target) => {
      const client = target.makeClient();
      // Without an 'error' listener a dropped connection would crash the process.
      client.on('error', broken);
      client.on('end', broken);
      client.on('sharded-channel-moved', broken);
      this.#clients.push(client);
      return { client, target };
    });
    await Promise.all(
      sessions.map(async ({ client, target }) => {
        await withTimeout(client.connect(), this.#connectTimeoutMs, `connecting to ${target.name}`);
        // SSUBSCRIBE takes channels of one slot only, so one command per channel, pipelined.
        await withTimeout(
          Promise.all(target.channels.map((channel) => (target.sharded ? client.sSubscribe(channel, onMessage) : client.subscribe(channel, onMessage)))),
          this.#connectTimeoutMs * 2,
          `subscribing on ${target.name}`,
        );
      }),
    );
  }

  #tell(fn: () => void): void {
    if (this.#closed) return;
    try {
      fn();
    } catch {
      // A listener's fault is its own; notices keep flowing.
    }
  }

  #dropClients(): void {
    const clients = this.#clients;
    this.#clients = [];
    for (const client of clients) {
      try {
        client.destroy();
      } catch {
        // Already closed.
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#loop;
    this.#closed = true;
    this.#breakSession?.();
    this.#wake?.();
    this.#dropClients();
    await this.#loop;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
