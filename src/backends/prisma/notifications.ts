/**
 * Change notices for PrismaBackend: every change of a context pokes a channel with `pg_notify` —
 * deletes, restores and cleanup from inside their own statement, version writes after commit in
 * batches ({@link PokeBatcher}) — and one listening session per backend hands the pokes to the
 * subscribers. A poke is `["<context id>", version]` (`null`: deleted), never data; anything else
 * on the channel means "read everything again".
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeListener, ChangeNotice, ChangeSubscription } from '../../backend.js';
import { BackendUnavailableError, ValidationError } from '../../errors.js';
import { describe } from '../../validation.js';

/** First pause before the listening session reconnects; it doubles up to {@link MAX_RECONNECT_DELAY_MS}. */
export const FIRST_RECONNECT_DELAY_MS = 100;
/** Longest pause between two reconnect attempts of the listening session. */
export const MAX_RECONNECT_DELAY_MS = 5_000;
/** PostgreSQL's limit on a NOTIFY payload is 8000 bytes; pokes over this ask for a full re-read instead. */
export const MAX_POKE_BYTES = 7_000;
/** The payload that means "notices may be lost: read every watched context again". */
export const RESYNC_POKE = '{"resync":true}';

/** The channel the backend's statements notify on for `schema`: at most 63 bytes, PostgreSQL's identifier limit. */
export function notifyChannel(schema: string): string {
  const plain = `chord_sync:${schema}`;
  if (Buffer.byteLength(plain) <= 63) return plain;
  return `chord_sync:${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}

/** `"name"` with embedded quotes doubled (as statements.ts does; kept here so neither imports the other). */
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `'text'` with embedded quotes doubled: a PostgreSQL string literal. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The SQL expression a statement evaluates once per changed row to poke the listeners, given the
 * expressions of its id and version (`NULL::bigint` for a deletion). A boolean, so that every
 * driver (Prisma's included) reads the column it lands in.
 */
export function pokeExpression(channel: string, idSql: string, versionSql: string): string {
  const poke = `json_build_array(${idSql}, ${versionSql})::text`;
  return (
    `(pg_notify(${quoteLiteral(channel)}, CASE WHEN octet_length(${idSql}) > ${MAX_POKE_BYTES - 100} ` +
    `THEN ${quoteLiteral(RESYNC_POKE)} ELSE ${poke} END) IS NULL)`
  );
}

/** What a poke says: a notice, or `null` for "read everything again". */
export function parsePoke(payload: string | undefined): ChangeNotice | null {
  if (payload === undefined) return null;
  try {
    const value: unknown = JSON.parse(payload);
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string') {
      const version: unknown = value[1];
      if (version === null) return { contextId: value[0], version: null };
      if (typeof version === 'number' && Number.isSafeInteger(version)) return { contextId: value[0], version };
      // Versions past 2^53 arrive as JSON numbers JS can't hold exactly; "read it again" still holds.
      if (typeof version === 'number') return { contextId: value[0], version: Number.MAX_SAFE_INTEGER };
    }
  } catch {
    // Not a poke of ours: fall through to a full re-read.
  }
  return null;
}

/** Most pokes one batch statement sends. */
export const MAX_POKES_PER_BATCH = 500;
/** Tries of one batch before its pokes are given up (the database is then unreachable for writes too). */
const POKE_SEND_TRIES = 3;

/** The payload of a poke of `contextId` at `version` (a resync poke when the id is too long for NOTIFY). */
export function pokePayload(contextId: string, version: number): string {
  const payload = JSON.stringify([contextId, version]);
  return Buffer.byteLength(payload) > MAX_POKE_BYTES ? RESYNC_POKE : payload;
}

/**
 * Pokes for version writes, sent after their commit: one statement at a time, carrying every poke
 * queued while the previous one was in flight (one per context, its highest version). A writer
 * never waits for it. A process that dies between a commit and the batch leaves that poke unsent:
 * watchers elsewhere see the change with the context's next change or their next resync.
 */
export class PokeBatcher {
  readonly #send: (payloads: string) => Promise<unknown>;
  readonly #pending = new Map<string, number>();
  #draining: Promise<void> | undefined;

  /** @param send runs the batch statement with a JSON array of payload texts. */
  constructor(send: (payloads: string) => Promise<unknown>) {
    this.#send = send;
  }

  add(contextId: string, version: number): void {
    const queued = this.#pending.get(contextId);
    if (queued === undefined || version > queued) this.#pending.set(contextId, version);
    this.#draining ??= this.#drain();
  }

  /** Resolves once every poke queued so far was sent (or given up). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
  }

  async #drain(): Promise<void> {
    // Writes finishing in the same turn join this batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.size > 0) {
      const batch: string[] = [];
      for (const [contextId, version] of this.#pending) {
        this.#pending.delete(contextId);
        batch.push(pokePayload(contextId, version));
        if (batch.length === MAX_POKES_PER_BATCH) break;
      }
      const payloads = JSON.stringify([...new Set(batch)]);
      for (let attempt = 1; attempt <= POKE_SEND_TRIES; attempt++) {
        try {
          await this.#send(payloads);
          break;
        } catch {
          if (attempt < POKE_SEND_TRIES) await sleep(50 * 2 ** attempt);
        }
      }
    }
    this.#draining = undefined;
  }
}

/** A `pg` client as the listening session uses it (`pg.Client`, or a client checked out of a `pg.Pool`). */
export interface PgListenClient {
  query(text: string): Promise<unknown>;
  on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** An open listening connection and how to let go of it. */
export interface PgListenSession {
  readonly client: PgListenClient;
  /** Ends the connection (it is never handed to anyone else while it LISTENs). */
  close(): Promise<void>;
}

/** The part of a PGlite instance that listens: `db.listen(channel, callback)` → unsubscribe. */
export interface PGliteListener {
  listen(channel: string, callback: (payload: string) => void): Promise<(tx?: never) => Promise<void>>;
}

/** Throws `ValidationError` unless `value` is something that listens like PGlite. */
export function validatePGliteListener(value: unknown, argument: string): asserts value is PGliteListener {
  if (value === null || typeof value !== 'object' || typeof (value as { listen?: unknown }).listen !== 'function') {
    throw new ValidationError(argument, `must be a PGlite instance (with listen()), got ${describe(value)}`);
  }
}

/** The subscribers of one backend, told each poke (a listener that throws only hurts itself). */
class Subscribers {
  readonly #listeners = new Set<ChangeListener>();

  get size(): number {
    return this.#listeners.size;
  }

  add(listener: ChangeListener): void {
    this.#listeners.add(listener);
  }

  delete(listener: ChangeListener): void {
    this.#listeners.delete(listener);
  }

  poke(payload: string | undefined): void {
    const notice = parsePoke(payload);
    if (notice === null) this.resync();
    else for (const listener of [...this.#listeners]) safely(() => listener.change(notice));
  }

  resync(): void {
    for (const listener of [...this.#listeners]) safely(() => listener.resync());
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A listener's failure is its own; the session and the other listeners go on.
  }
}

function validateListener(listener: unknown): asserts listener is ChangeListener {
  const l = listener as Partial<ChangeListener> | null;
  if (l === null || typeof l !== 'object' || typeof l.change !== 'function' || typeof l.resync !== 'function') {
    throw new ValidationError('listener', `must be an object with change() and resync(), got ${describe(listener)}`);
  }
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A subscriber may be gone by the time it rejects; the rejection is then nobody's to handle.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * One listening session on a PostgreSQL server, shared by every subscriber of one backend: opened
 * on the first subscription, closed with the last. When the connection breaks it reconnects by
 * itself (backoff from {@link FIRST_RECONNECT_DELAY_MS} to {@link MAX_RECONNECT_DELAY_MS}, with
 * jitter), LISTENs again and then tells every subscriber to `resync`, since pokes sent while it
 * was away are lost. Only a failure of the very first connection is reported (through `ready`).
 */
export class PgChangeFeed {
  readonly #connect: () => Promise<PgListenSession>;
  readonly #channel: string;
  readonly #subscribers = new Subscribers();
  /** Resolves while a session LISTENs; replaced by a pending one while it reconnects. */
  #listening: Deferred = deferred();
  /** The run of the current session loop; a new value stops the old loop. */
  #run = 0;
  #running = false;
  #stop: AbortController = new AbortController();
  #session: PgListenSession | undefined;

  constructor(connect: () => Promise<PgListenSession>, channel: string) {
    this.#connect = connect;
    this.#channel = channel;
  }

  subscribe(listener: ChangeListener): ChangeSubscription {
    validateListener(listener);
    this.#subscribers.add(listener);
    if (!this.#running) this.#start();
    let closed = false;
    return {
      ready: this.#listening.promise,
      close: async () => {
        if (closed) return;
        closed = true;
        this.#subscribers.delete(listener);
        if (this.#subscribers.size === 0) await this.stop();
      },
    };
  }

  /** Ends the session and any reconnecting; subscribers are dropped. */
  async stop(): Promise<void> {
    this.#run++;
    this.#running = false;
    this.#stop.abort();
    // A subscriber still waiting for the session to listen would otherwise wait for ever.
    this.#listening.reject(new BackendUnavailableError(`PrismaBackend: stopped listening on ${JSON.stringify(this.#channel)} (closed)`));
    this.#listening = deferred();
    const session = this.#session;
    this.#session = undefined;
    if (session !== undefined) await session.close().catch(() => undefined);
  }

  #start(): void {
    this.#running = true;
    this.#stop = new AbortController();
    const run = ++this.#run;
    void this.#loop(run, this.#stop.signal);
  }

  async #loop(run: number, signal: AbortSignal): Promise<void> {
    let connectedBefore = false;
    let attempt = 0;
    while (this.#run === run) {
      let session: PgListenSession | undefined;
      try {
        session = await this.#connect();
        if (this.#run !== run) {
          await session.close().catch(() => undefined);
          return;
        }
        this.#session = session;
        const lost = new Promise<void>((resolve) => {
          session?.client.on('error', () => resolve());
          session?.client.on('end', () => resolve());
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        session.client.on('notification', (message) => {
          if (message.channel === this.#channel && this.#run === run) this.#subscribers.poke(message.payload);
        });
        await session.client.query(`LISTEN ${quoteIdent(this.#channel)}`);
        if (this.#run !== run) return;
        attempt = 0;
        this.#listening.resolve();
        if (connectedBefore) this.#subscribers.resync();
        connectedBefore = true;
        await lost;
        if (this.#run !== run) return;
        this.#listening = deferred();
        this.#session = undefined;
        await session.close().catch(() => undefined);
      } catch (error) {
        if (session !== undefined) {
          if (this.#session === session) this.#session = undefined;
          await session.close().catch(() => undefined);
        }
        if (this.#run !== run) return;
        if (!connectedBefore) {
          // The first connection failed: the subscribers waiting on `ready` learn it, and the next
          // subscription starts anew.
          this.#listening.reject(
            error instanceof BackendUnavailableError
              ? error
              : new BackendUnavailableError(`PrismaBackend: could not LISTEN for changes on ${JSON.stringify(this.#channel)}`, { cause: error }),
          );
          this.#listening = deferred();
          this.#running = false;
          this.#run++;
          return;
        }
      }
      const delay = Math.min(MAX_RECONNECT_DELAY_MS, FIRST_RECONNECT_DELAY_MS * 2 ** attempt++);
      await sleep(delay / 2 + Math.random() * (delay / 2), undefined, { signal }).catch(() => undefined);
    }
  }
}

/**
 * Change notices of an in-process PGlite database: its own `listen()` on the channel the
 * statements notify on. PGlite is in-process, so there is no connection to lose.
 */
export class PGliteChangeFeed {
  readonly #db: PGliteListener;
  readonly #channel: string;
  readonly #subscribers = new Subscribers();
  #listening: Promise<(tx?: never) => Promise<void>> | undefined;

  constructor(db: PGliteListener, channel: string) {
    this.#db = db;
    this.#channel = channel;
  }

  subscribe(listener: ChangeListener): ChangeSubscription {
    validateListener(listener);
    this.#subscribers.add(listener);
    // Quoted: PGlite sends the name as written to LISTEN and matches notices by its unquoted form.
    this.#listening ??= this.#db.listen(quoteIdent(this.#channel), (payload) => this.#subscribers.poke(payload));
    const listening = this.#listening;
    const ready = listening.then(
      () => undefined,
      (error: unknown) => {
        if (this.#listening === listening) this.#listening = undefined;
        throw new BackendUnavailableError(`PrismaBackend: PGlite could not LISTEN on ${JSON.stringify(this.#channel)}`, { cause: error });
      },
    );
    ready.catch(() => undefined);
    let closed = false;
    return {
      ready,
      close: async () => {
        if (closed) return;
        closed = true;
        this.#subscribers.delete(listener);
        if (this.#subscribers.size === 0 && this.#listening === listening) {
          this.#listening = undefined;
          const unlisten = await listening.catch(() => undefined);
          await unlisten?.().catch(() => undefined);
        }
      },
    };
  }

  async stop(): Promise<void> {
    const listening = this.#listening;
    this.#listening = undefined;
    const unlisten = await listening?.catch(() => undefined);
    await unlisten?.().catch(() => undefined);
  }
}
