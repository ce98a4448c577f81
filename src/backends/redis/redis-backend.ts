import { createClient, createCluster } from 'redis';
import type {
  AtomicRestorer,
  AtomicVersionWriter,
  BackendClockConfig,
  BulkCleanup,
  ChangeListener,
  ChangeNotifier,
  ChangeSubscription,
  ChordBackend,
  DeltaCount,
  IdleContextsDeleted,
  ListOptions,
  SyncKnown,
  SyncRead,
  SyncReader,
  VersionWriteResult,
  OnceWriteResult,
  WriteId,
  WriteIdRecorder,
  WriteReceipt,
} from '../../backend.js';
import { SYNC_DELTA_BYTES_FLOOR, newEpoch, serializeOnceWrite, validateClientId } from '../../backend.js';
import { ValidationError, VersionConflictError } from '../../errors.js';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from '../../types.js';
import {
  type JsonLimits,
  deltaLimits,
  describe,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateBatchSize,
  validateContextId,
  validateCount,
  validateListOptions,
  validateSyncKnown,
  validateTimestamp,
  validateVersion,
  validateOptions,
} from '../../validation.js';
import { compareCodePoints } from '../memory/code-point-order.js';
import { ChangeSubscriber } from './change-subscriber.js';
import { KeyLayout } from './keys.js';
import {
  ClusterConnection,
  LuaScript,
  type RedisClusterClient,
  type RedisConnection,
  type RedisNodeClient,
  type Shard,
  StandaloneConnection,
} from './redis-connection.js';
import * as lua from './scripts.js';

/** Default first part of every key the backend writes: `chord`. */
export const DEFAULT_KEY_PREFIX = 'chord';
/** Default time to wait for a connection before `BackendUnavailableError`: 10 s. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 10_000;
/** Default time to wait for a command's reply before `BackendUnavailableError`: 10 s. */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 10_000;

/** Options every form of {@link RedisBackendConfig} accepts. */
export interface RedisBackendCommonConfig extends BackendClockConfig {
  /** First part of every key (and notice channel); no `{` or `}`. Default: {@link DEFAULT_KEY_PREFIX}. */
  readonly keyPrefix?: string;
  /** Bounds on contexts and deltas; larger or deeper values are refused with `ValidationError`. Default: 100 levels, 16 MiB. */
  readonly limits?: JsonLimits;
  /** How long to wait for a connection before `BackendUnavailableError`. Default: {@link DEFAULT_REDIS_CONNECT_TIMEOUT_MS}. */
  readonly connectTimeoutMs?: number;
  /**
   * How long to wait for each command's reply before `BackendUnavailableError`. A write that timed
   * out may still have been applied. Default: {@link DEFAULT_REDIS_COMMAND_TIMEOUT_MS}.
   */
  readonly commandTimeoutMs?: number;
}

/** One Redis by URL (`redis://`, `rediss://`); the backend makes the client and closes it in `close()`. */
export interface RedisBackendUrlConfig extends RedisBackendCommonConfig {
  readonly url: string;
}

/** A Redis Cluster from some of its nodes; the backend makes the cluster client and closes it in `close()`. */
export interface RedisBackendClusterConfig extends RedisBackendCommonConfig {
  readonly rootNodes: ReadonlyArray<{ readonly url: string }>;
}

/**
 * A node-redis client (`createClient()`) or Cluster client (`createCluster()`) the app made,
 * connected and with its own 'error' listener; the backend never closes it. Subscriptions use
 * connections of their own, made from its options.
 */
export interface RedisBackendClientConfig extends RedisBackendCommonConfig {
  readonly client: unknown;
}

/** How {@link RedisBackend} reaches Redis: exactly one of `url`, `rootNodes` or `client`. */
export type RedisBackendConfig = RedisBackendUrlConfig | RedisBackendClusterConfig | RedisBackendClientConfig;

const REDIS_CONFIG_KEYS = new Set(['clock', 'limits', 'keyPrefix', 'connectTimeoutMs', 'commandTimeoutMs', 'url', 'rootNodes', 'client']);

function validateConfig(config: unknown): asserts config is RedisBackendConfig {
  const c = validateOptions(config, 'config', 'RedisBackend', REDIS_CONFIG_KEYS, 'an object with url, rootNodes or client');
  const forms = ['url', 'rootNodes', 'client'].filter((key) => c[key] !== undefined);
  if (forms.length !== 1) {
    throw new ValidationError('config', `must have exactly one of url, rootNodes or client, got ${forms.length === 0 ? 'none' : forms.join(' and ')}`);
  }
  if (c.url !== undefined && (typeof c.url !== 'string' || !/^rediss?:\/\//.test(c.url))) {
    throw new ValidationError('config.url', `must be a redis:// or rediss:// URL, got ${describe(c.url)}`);
  }
  if (c.rootNodes !== undefined) {
    const nodes = c.rootNodes;
    if (!Array.isArray(nodes) || nodes.length === 0) throw new ValidationError('config.rootNodes', `must be a non-empty array of { url }, got ${describe(nodes)}`);
    nodes.forEach((node: unknown, i) => {
      const url = (node as { url?: unknown } | null)?.url;
      if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
        throw new ValidationError(`config.rootNodes[${i}].url`, `must be a redis:// or rediss:// URL, got ${describe(url)}`);
      }
    });
  }
  if (c.client !== undefined) {
    const client = c.client as { sendCommand?: unknown } | null;
    if (client === null || typeof client !== 'object' || typeof client.sendCommand !== 'function') {
      throw new ValidationError('config.client', `must be a node-redis client or cluster client, got ${describe(c.client)}`);
    }
  }
  if (c.keyPrefix !== undefined && (typeof c.keyPrefix !== 'string' || c.keyPrefix === '' || /[{}]/.test(c.keyPrefix))) {
    // A brace in the prefix would become the hash tag of every key, putting them all in one slot.
    throw new ValidationError('config.keyPrefix', `must be a non-empty string without { or }, got ${describe(c.keyPrefix)}`);
  }
  if (c.clock !== undefined && typeof c.clock !== 'function') {
    throw new ValidationError('config.clock', `must be a function returning an integer, got ${describe(c.clock)}`);
  }
  for (const key of ['connectTimeoutMs', 'commandTimeoutMs']) {
    const value = c[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)) {
      throw new ValidationError(`config.${key}`, `must be an integer ≥ 1, got ${describe(value)}`);
    }
  }
}

const SCRIPTS = {
  setContext: new LuaScript(lua.SET_CONTEXT),
  deleteContext: new LuaScript(lua.DELETE_CONTEXT),
  setDelta: new LuaScript(lua.SET_DELTA),
  getDeltas: new LuaScript(lua.GET_DELTAS),
  countDeltas: new LuaScript(lua.COUNT_DELTAS),
  deleteDeltasForContext: new LuaScript(lua.DELETE_DELTAS_FOR_CONTEXT),
  deleteDeltasByTime: new LuaScript(lua.DELETE_DELTAS_BY_TIME),
  deleteDeltasExceeding: new LuaScript(lua.DELETE_DELTAS_EXCEEDING),
  writeVersion: new LuaScript(lua.WRITE_VERSION),
  writeVersionOnce: new LuaScript(lua.WRITE_VERSION_ONCE),
  getWriteReceipt: new LuaScript(lua.GET_WRITE_RECEIPT),
  restoreVersion: new LuaScript(lua.RESTORE_VERSION),
  readForSync: new LuaScript(lua.READ_FOR_SYNC),
  deltasPage: new LuaScript(lua.DELTAS_PAGE),
  scanIds: new LuaScript(lua.crossSlot(lua.SCAN_IDS)),
  deleteIdleContexts: new LuaScript(lua.crossSlot(lua.DELETE_IDLE_CONTEXTS)),
  deleteDeltasOlderThan: new LuaScript(lua.crossSlot(lua.DELETE_DELTAS_OLDER_THAN)),
  deleteDeltasBeyondNewest: new LuaScript(lua.crossSlot(lua.DELETE_DELTAS_BEYOND_NEWEST)),
} as const;

/** Ids a listing script examines per call: bounds each call's time and reply. */
const SCAN_CHUNK_MIN = 128;
const SCAN_CHUNK_MAX = 2_000;

/**
 * The chord-sync backend on Redis (≥ 7.0), one server or a Redis Cluster, through node-redis.
 * Every write is one Lua script on the context's slot (context, delta, indexes and the change
 * notice together, atomically); listing and bulk cleanup walk sorted-set indexes (never `KEYS`),
 * per node, merged in id byte order. See docs/redis.md for the key layout and what a failover
 * can lose.
 *
 * ```ts
 * const backend = new RedisBackend({ url: 'redis://127.0.0.1:6379' });
 * const clustered = new RedisBackend({ rootNodes: [{ url: 'redis://10.0.0.1:7000' }] });
 * // …
 * await backend.close();
 * ```
 */
export class RedisBackend implements ChordBackend, AtomicVersionWriter, AtomicRestorer, BulkCleanup, SyncReader, ChangeNotifier, WriteIdRecorder {
  readonly #clock: () => number;
  readonly #limits: Required<JsonLimits>;
  readonly #connection: RedisConnection;
  readonly #layout: KeyLayout;
  readonly #publish: string;
  readonly #connectTimeoutMs: number;
  readonly #subscriptions = new Set<ChangeSubscriber>();

  /** Validates `config` (throws `ValidationError` naming the field); connects lazily, on the first call. */
  constructor(config: RedisBackendConfig) {
    validateConfig(config);
    this.#clock = config.clock ?? Date.now;
    this.#limits = resolveLimits(config.limits);
    const timeouts = {
      connectTimeoutMs: config.connectTimeoutMs ?? DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
      commandTimeoutMs: config.commandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    };
    this.#connectTimeoutMs = timeouts.connectTimeoutMs;
    const prefix = config.keyPrefix ?? DEFAULT_KEY_PREFIX;
    // Named, so an operator (or a test) can tell the backend's connections apart in CLIENT LIST.
    const name = `chord-sync:${prefix}`;
    const ignore = () => {};
    if ('url' in config && config.url !== undefined) {
      const client = createClient({ url: config.url, name, socket: { connectTimeout: timeouts.connectTimeoutMs } });
      // Without an 'error' listener a dropped connection would crash the process; node-redis
      // reconnects by itself and each call waiting meanwhile fails after commandTimeoutMs.
      client.on('error', ignore);
      this.#connection = new StandaloneConnection(client as unknown as RedisNodeClient, true, timeouts);
    } else if ('rootNodes' in config && config.rootNodes !== undefined) {
      const cluster = createCluster({
        rootNodes: config.rootNodes.map((node) => ({ url: node.url })),
        defaults: { name, socket: { connectTimeout: timeouts.connectTimeoutMs } },
      });
      cluster.on('error', ignore);
      cluster.on('node-error', ignore);
      this.#connection = new ClusterConnection(cluster as unknown as RedisClusterClient, true, timeouts);
    } else {
      const client = (config as RedisBackendClientConfig).client as Record<string, unknown>;
      this.#connection =
        'masters' in client && 'slots' in client
          ? new ClusterConnection(client as unknown as RedisClusterClient, false, timeouts)
          : new StandaloneConnection(client as unknown as RedisNodeClient, false, timeouts);
    }
    this.#layout = new KeyLayout(prefix, this.#connection.cluster);
    this.#publish = this.#connection.cluster ? 'SPUBLISH' : 'PUBLISH';
  }

  /** The first part of every key this backend writes. */
  get keyPrefix(): string {
    return this.#layout.prefix;
  }

  /** True on a Redis Cluster. */
  get isCluster(): boolean {
    return this.#connection.cluster;
  }

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    const now = readClock(this.#clock);
    const epoch = await this.#eval('setContext', contextId, SCRIPTS.setContext, [text, String(version), String(now), newEpoch()]);
    return { contextId, context: JSON.parse(text) as JsonObject, version, insertedAt: now, epoch: String(epoch) };
  }

  async getContext(contextId: string): Promise<ContextRecord | null> {
    validateContextId(contextId);
    const key = this.#layout.contextKey(contextId);
    const reply = (await this.#connection.commandOn(key, ['HMGET', key, 'j', 'v', 't', 'e'], () => operation('getContext', contextId))) as Array<string | null>;
    return toContextRecord(contextId, reply);
  }

  async deleteContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return Number(await this.#eval('deleteContext', contextId, SCRIPTS.deleteContext, []));
  }

  async setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(version);
    const now = readClock(this.#clock);
    await this.#eval('setDelta', contextId, SCRIPTS.setDelta, [text, String(version), String(now)]);
    return { contextId, delta: JSON.parse(text) as Delta, version, insertedAt: now };
  }

  async getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    const reply = await this.#eval('getDeltas', contextId, SCRIPTS.getDeltas, [String(clientVersion)]);
    return toDeltaRecords(contextId, reply);
  }

  async readForSync(contextId: string, clientVersion: number, maxBehind: number, known?: SyncKnown): Promise<SyncRead | null> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    validateCount(maxBehind, 'maxBehind');
    if (known !== undefined) validateSyncKnown(known);
    const reply = (await this.#eval('readForSync', contextId, SCRIPTS.readForSync, [
      String(clientVersion),
      String(maxBehind),
      String(SYNC_DELTA_BYTES_FLOOR),
      known === undefined ? '' : String(known.version),
      known === undefined ? '' : known.epoch,
    ])) as [string, string, string, number, unknown] | null;
    if (reply === null) return null;
    const [version, insertedAt, epoch, kind, payload] = reply;
    const head = { version: Number(version), epoch, insertedAt: Number(insertedAt) };
    if (kind === lua.SYNC_REPLY_KIND.deltas) return { ...head, deltas: toDeltaRecords(contextId, payload), context: null };
    if (kind === lua.SYNC_REPLY_KIND.deltasAfterKnown) return { ...head, deltas: toDeltaRecords(contextId, payload), context: null, known: true };
    if (kind === lua.SYNC_REPLY_KIND.context) return { ...head, deltas: [], context: JSON.parse(payload as string) as JsonObject };
    if (kind === lua.SYNC_REPLY_KIND.atKnown) return { ...head, deltas: [], context: null, known: true };
    return { ...head, deltas: [], context: null };
  }

  async deleteDeltasForContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return Number(await this.#eval('deleteDeltasForContext', contextId, SCRIPTS.deleteDeltasForContext, []));
  }

  async deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number> {
    validateContextId(contextId);
    validateTimestamp(olderThanTime, 'olderThanTime');
    return Number(await this.#eval('deleteDeltasByTime', contextId, SCRIPTS.deleteDeltasByTime, [String(olderThanTime)]));
  }

  async deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number> {
    validateContextId(contextId);
    validateCount(versionThreshold, 'versionThreshold');
    return Number(await this.#eval('deleteDeltasExceedingThreshold', contextId, SCRIPTS.deleteDeltasExceeding, [String(versionThreshold)]));
  }

  async listContexts(options?: ListOptions): Promise<ContextRecord[]> {
    const { contextId, version, insertedAt, limit, offset = 0, order } = validateListOptions(options);
    if (limit === 0) return [];
    const matches = (r: ContextRecord) => (version === undefined || r.version === version) && (insertedAt === undefined || r.insertedAt >= insertedAt);
    if (contextId !== undefined) {
      const record = await this.getContext(contextId);
      return record !== null && matches(record) && offset === 0 ? [record] : [];
    }
    const ids: string[] = [];
    let skipped = 0;
    for await (const [id] of this.#scan('listContexts', 'c', order, version, insertedAt, offset + (limit ?? Infinity))) {
      if (skipped < offset) {
        skipped++;
        continue;
      }
      ids.push(id);
      if (limit !== undefined && ids.length >= limit) break;
    }
    const records = await Promise.all(ids.map((id) => this.getContext(id)));
    // A context deleted or rewritten since the scan is left out rather than shown in a state that fails the filters.
    return records.filter((r): r is ContextRecord => r !== null && matches(r));
  }

  async listContextsWithDeltaCounts(options?: ListOptions): Promise<DeltaCount[]> {
    const { contextId, version, insertedAt, limit, offset = 0, order } = validateListOptions(options);
    if (limit === 0) return [];
    if (contextId !== undefined) {
      const count = Number(await this.#eval('listContextsWithDeltaCounts', contextId, SCRIPTS.countDeltas, [filterArg(version), filterArg(insertedAt)]));
      return count > 0 && offset === 0 ? [{ contextId, count }] : [];
    }
    const counts: DeltaCount[] = [];
    let skipped = 0;
    for await (const [id, count] of this.#scan('listContextsWithDeltaCounts', 'd', order, version, insertedAt, offset + (limit ?? Infinity))) {
      if (skipped < offset) {
        skipped++;
        continue;
      }
      counts.push({ contextId: id, count });
      if (limit !== undefined && counts.length >= limit) break;
    }
    return counts;
  }

  async listDeltas(options?: ListOptions): Promise<DeltaRecord[]> {
    const { contextId, version, insertedAt, limit, offset = 0, order } = validateListOptions(options);
    if (limit === 0) return [];
    const pageOf = (id: string, skip: number, take: number) =>
      this.#eval('listDeltas', id, SCRIPTS.deltasPage, [filterArg(version), filterArg(insertedAt), order === 'desc' ? 'd' : 'a', String(skip), String(take)]).then(
        (reply) => toDeltaRecords(id, reply),
      );
    if (contextId !== undefined) {
      return pageOf(contextId, offset, limit ?? Number.MAX_SAFE_INTEGER);
    }
    // Counts first (one scan), then only the pages of the ids that fall in the window.
    const wanted: Array<{ id: string; skip: number; take: number }> = [];
    let toSkip = offset;
    let toTake = limit ?? Infinity;
    for await (const [id, count] of this.#scan('listDeltas', 'd', order, version, insertedAt, limit === undefined ? Infinity : offset + limit)) {
      if (toSkip >= count) {
        toSkip -= count;
        continue;
      }
      const take = Math.min(count - toSkip, toTake);
      wanted.push({ id, skip: toSkip, take });
      toSkip = 0;
      toTake -= take;
      if (toTake <= 0) break;
    }
    const pages = await Promise.all(wanted.map(({ id, skip, take }) => pageOf(id, skip, take)));
    return pages.flat();
  }

  /**
   * Stores `context` and `delta` as version `expectedVersion + 1` in one script, only if the
   * stored version is still `expectedVersion` (`0`: none stored); otherwise writes nothing and
   * throws `VersionConflictError` with the stored version.
   */
  async writeVersion(contextId: string, context: JsonObject, delta: Delta, expectedVersion: number): Promise<VersionWriteResult> {
    validateContextId(contextId);
    const contextText = serializeJsonObject(context, 'context', this.#limits);
    const deltaText = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(expectedVersion, 'expectedVersion');
    if (expectedVersion >= Number.MAX_SAFE_INTEGER) {
      throw new ValidationError('expectedVersion', `must be below ${Number.MAX_SAFE_INTEGER} so the next version is exact`);
    }
    const now = readClock(this.#clock);
    const version = expectedVersion + 1;
    const [written, value] = (await this.#eval('writeVersion', contextId, SCRIPTS.writeVersion, [
      contextText,
      deltaText,
      String(expectedVersion),
      String(version),
      String(now),
      // An epoch only for a context that comes into existence: at any other expected version the
      // script writes only if the context is stored, and it keeps the stored epoch.
      expectedVersion === 0 ? newEpoch() : '',
    ])) as [number, string];
    if (written !== 1) throw new VersionConflictError(contextId, expectedVersion, Number(value));
    return {
      context: { contextId, context: JSON.parse(contextText) as JsonObject, version, insertedAt: now, epoch: value },
      delta: { contextId, delta: JSON.parse(deltaText) as Delta, version, insertedAt: now },
    };
  }

  async getWriteReceipt(contextId: string, clientId: string): Promise<WriteReceipt | null> {
    validateContextId(contextId);
    validateClientId(clientId);
    const reply = await this.#eval('getWriteReceipt', contextId, SCRIPTS.getWriteReceipt, [clientId]);
    return reply === null || reply === undefined ? null : parseReceipt(String(reply));
  }

  /** {@link writeVersion} (or, with a `null` delta, only a check of the version) and the receipt of `write`, in one script; see `WriteIdRecorder`. */
  async writeVersionOnce(contextId: string, context: JsonObject, delta: Delta | null, expectedVersion: number, write: WriteId): Promise<OnceWriteResult> {
    const { contextText, deltaText } = serializeOnceWrite(contextId, context, delta, expectedVersion, write, this.#limits);
    const now = readClock(this.#clock);
    const version = expectedVersion + 1;
    const [kind, value] = (await this.#eval('writeVersionOnce', contextId, SCRIPTS.writeVersionOnce, [
      contextText,
      deltaText ?? '',
      String(expectedVersion),
      String(version),
      String(now),
      expectedVersion === 0 ? newEpoch() : '',
      write.clientId,
      String(write.writeId),
    ])) as [number, string];
    if (kind === 2) return { duplicate: true, receipt: parseReceipt(value) };
    if (kind !== 1) throw new VersionConflictError(contextId, expectedVersion, Number(value));
    if (deltaText === null) return { duplicate: false, written: null };
    return {
      duplicate: false,
      written: {
        context: { contextId, context: JSON.parse(contextText) as JsonObject, version, insertedAt: now, epoch: value },
        delta: { contextId, delta: JSON.parse(deltaText) as Delta, version, insertedAt: now },
      },
    };
  }

  /**
   * Stores `context` at `version` and deletes the context's deltas in one script, only if no
   * context is stored at `version` or above and, with `expectedVersion`, the stored version is it
   * (`0`: none); otherwise writes nothing and throws `VersionConflictError` with the stored version.
   */
  async restoreVersion(contextId: string, context: JsonObject, version: number, expectedVersion?: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const text = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    if (expectedVersion !== undefined) validateVersion(expectedVersion, 'expectedVersion');
    const now = readClock(this.#clock);
    const [written, value] = (await this.#eval('restoreVersion', contextId, SCRIPTS.restoreVersion, [
      text,
      String(version),
      String(now),
      newEpoch(),
      filterArg(expectedVersion),
    ])) as [number, string];
    if (written !== 1) throw new VersionConflictError(contextId, expectedVersion ?? version, Number(value));
    return { contextId, context: JSON.parse(text) as JsonObject, version, insertedAt: now, epoch: value };
  }

  async deleteIdleContexts(olderThanTime: number, batchSize: number): Promise<IdleContextsDeleted> {
    validateTimestamp(olderThanTime, 'olderThanTime');
    validateBatchSize(batchSize);
    let contexts = 0;
    let deltas = 0;
    await this.#eachShard('deleteIdleContexts', async (shard) => {
      const [c, d] = (await this.#connection.evalOnShard(
        shard,
        SCRIPTS.deleteIdleContexts,
        [this.#layout.prefix, this.#clusterFlag, this.#publish, String(olderThanTime), String(batchSize - contexts), shard.bucketList],
        'deleteIdleContexts',
      )) as [number, number];
      contexts += c;
      deltas += d;
      return contexts >= batchSize;
    });
    return { contexts, deltas };
  }

  async deleteDeltasOlderThan(olderThanTime: number, batchSize: number): Promise<number> {
    validateTimestamp(olderThanTime, 'olderThanTime');
    validateBatchSize(batchSize);
    let removed = 0;
    await this.#eachShard('deleteDeltasOlderThan', async (shard) => {
      removed += Number(
        await this.#connection.evalOnShard(
          shard,
          SCRIPTS.deleteDeltasOlderThan,
          [this.#layout.prefix, this.#clusterFlag, String(olderThanTime), String(batchSize - removed), shard.bucketList],
          'deleteDeltasOlderThan',
        ),
      );
      return removed >= batchSize;
    });
    return removed;
  }

  async deleteDeltasBeyondNewest(keep: number, batchSize: number): Promise<number> {
    validateCount(keep, 'keep');
    validateBatchSize(batchSize);
    let removed = 0;
    await this.#eachShard('deleteDeltasBeyondNewest', async (shard) => {
      removed += Number(
        await this.#connection.evalOnShard(
          shard,
          SCRIPTS.deleteDeltasBeyondNewest,
          [this.#layout.prefix, this.#clusterFlag, String(keep), String(batchSize - removed), shard.bucketList],
          'deleteDeltasBeyondNewest',
        ),
      );
      return removed >= batchSize;
    });
    return removed;
  }

  /**
   * The `ChangeNotifier` capability: every context write, delete, restore and idle-context
   * deletion publishes a notice from inside its script (sharded pub/sub on a Cluster), so none is
   * published without its change or the other way round. The listener's `resync()` is called
   * after every reconnect of the subscriber connections (notices sent meanwhile are lost).
   */
  subscribeChanges(listener: ChangeListener): ChangeSubscription {
    if (listener === null || typeof listener !== 'object' || typeof listener.change !== 'function' || typeof listener.resync !== 'function') {
      throw new ValidationError('listener', `must be an object with change() and resync(), got ${describe(listener)}`);
    }
    const subscriber = new ChangeSubscriber(this.#connection, (bucket) => this.#layout.channelOf(bucket), listener, this.#connectTimeoutMs, `chord-sync-sub:${this.#layout.prefix}`);
    this.#subscriptions.add(subscriber);
    return {
      ready: subscriber.ready,
      close: async () => {
        this.#subscriptions.delete(subscriber);
        await subscriber.close();
      },
    };
  }

  /** Stops every subscription and closes the client the backend made (a client given to it stays open). Safe to call twice. */
  async close(): Promise<void> {
    const subscriptions = [...this.#subscriptions];
    this.#subscriptions.clear();
    await Promise.all(subscriptions.map((s) => s.close()));
    await this.#connection.close();
  }

  get #clusterFlag(): string {
    return this.#connection.cluster ? '1' : '0';
  }

  #eval(method: string, contextId: string, script: LuaScript, args: readonly string[]): Promise<unknown> {
    const { keys, channel } = this.#layout.forContext(contextId);
    return this.#connection.evalOn(script, keys, [contextId, this.#publish, channel, ...args], () => operation(method, contextId));
  }

  /** Runs `step` on each master in turn until it says the batch is full. */
  async #eachShard(method: string, step: (shard: Shard) => Promise<boolean>): Promise<void> {
    const shards = await this.#connection.shards(`RedisBackend.${method}`);
    for (const shard of shards) {
      if (await step(shard)) return;
    }
  }

  /**
   * The ids of every node's index (contexts, or ids with deltas and their matching count), merged
   * in id byte order (reversed for `desc`), read in chunks with a cursor per node, so at most
   * `needed` ids (plus one chunk per node) are held.
   */
  async *#scan(
    method: string,
    mode: 'c' | 'd',
    order: 'asc' | 'desc' | undefined,
    version: number | undefined,
    insertedAt: number | undefined,
    needed: number,
  ): AsyncGenerator<[string, number]> {
    const shards = await this.#connection.shards(`RedisBackend.${method}`);
    const desc = order === 'desc';
    const chunk = String(Math.max(SCAN_CHUNK_MIN, Math.min(SCAN_CHUNK_MAX, needed)));
    const streams = shards.map((shard) => this.#shardStream(method, shard, mode, desc, chunk, filterArg(version), filterArg(insertedAt)));
    const heads = await Promise.all(streams.map((s) => s.next()));
    const before = (a: string, b: string) => (desc ? compareCodePoints(b, a) : compareCodePoints(a, b)) < 0;
    for (;;) {
      let pick = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i] as IteratorResult<[string, number]>;
        if (head.done) continue;
        if (pick < 0 || before(head.value[0], (heads[pick] as IteratorYieldResult<[string, number]>).value[0])) pick = i;
      }
      if (pick < 0) return;
      yield (heads[pick] as IteratorYieldResult<[string, number]>).value;
      heads[pick] = await (streams[pick] as AsyncGenerator<[string, number]>).next();
    }
  }

  async *#shardStream(method: string, shard: Shard, mode: 'c' | 'd', desc: boolean, chunk: string, vf: string, tf: string): AsyncGenerator<[string, number]> {
    let cursor = '';
    for (;;) {
      const reply = (await this.#connection.evalOnShard(
        shard,
        SCRIPTS.scanIds,
        [this.#layout.prefix, this.#clusterFlag, mode, desc ? 'd' : 'a', cursor, chunk, vf, tf, shard.bucketList],
        `RedisBackend.${method}`,
      )) as Array<string | number>;
      if (mode === 'c') {
        for (let i = 2; i < reply.length; i++) yield [String(reply[i]), 1];
      } else {
        for (let i = 2; i < reply.length; i += 2) yield [String(reply[i]), Number(reply[i + 1])];
      }
      if (reply[0] === 1) return;
      cursor = String(reply[1]);
    }
  }
}

function operation(method: string, contextId: string): string {
  return `RedisBackend.${method}(${describe(contextId)})`;
}

function filterArg(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}

function toContextRecord(contextId: string, reply: Array<string | null>): ContextRecord | null {
  const [json, version, insertedAt, epoch] = reply;
  if (json === null || json === undefined) return null;
  const context = JSON.parse(json) as JsonObject;
  // Every context this backend writes has an epoch; the other shape is kept for a hand-made hash.
  return epoch === null || epoch === undefined
    ? { contextId, context, version: Number(version), insertedAt: Number(insertedAt) }
    : { contextId, context, version: Number(version), insertedAt: Number(insertedAt), epoch };
}

function toDeltaRecords(contextId: string, reply: unknown): DeltaRecord[] {
  const flat = reply as Array<string | null>;
  const records: DeltaRecord[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const json = flat[i + 2];
    // A version listed without its JSON was removed between two reads of one script: impossible
    // inside a script, so this is defensive only.
    if (json === null || json === undefined) continue;
    records.push({ contextId, delta: JSON.parse(json) as Delta, version: Number(flat[i]), insertedAt: Number(flat[i + 1]) });
  }
  return records;
}

/** A receipt as the scripts store it: `"<writeId> <version> <epoch>"`. */
function parseReceipt(text: string): WriteReceipt {
  const [writeId, version, ...epoch] = text.split(' ');
  return { writeId: Number(writeId), version: Number(version), epoch: epoch.join(' ') };
}
