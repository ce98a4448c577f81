// Writing your own backend: a plain Map-based one, written only against the public entry points
// (`chord-sync` for the contract and the validation helpers, `chord-sync/testing` for the suites),
// passes the whole backend and engine conformance suites. Its storage code does storage; every
// input check is one call to an exported helper, the same ones the built-in backends use.
import { randomUUID } from 'node:crypto';
import {
  type ChordBackend,
  type ContextRecord,
  type Delta,
  type DeltaCount,
  type DeltaRecord,
  type JsonLimits,
  type JsonObject,
  type ListOptions,
  deltaLimits,
  readClock,
  resolveLimits,
  serializeJsonObject,
  validateContextId,
  validateCount,
  validateListOptions,
  validateTimestamp,
  validateVersion,
} from '../../src/index.js'; // the `chord-sync` entry (its source: tests run on src/)
import { runBackendConformance, runEngineConformance } from '../../src/testing/index.js'; // `chord-sync/testing`
import { forTarget } from '../support/named.js';

interface Stored {
  readonly json: string; // stored as text, so a caller's later change to its object cannot reach it
  readonly version: number;
  readonly insertedAt: number;
  /** Contexts only: new when the id comes into existence, kept by later writes. */
  readonly epoch?: string;
}

/** Ids in UTF-8 byte order, as the contract orders them (not JavaScript's UTF-16 order). */
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function page<T>(items: T[], { offset = 0, limit }: ListOptions): T[] {
  return items.slice(offset, limit === undefined ? undefined : offset + limit);
}

/** The seed's eleven methods over two Maps: no capability beyond them. */
class MapBackend implements ChordBackend {
  readonly #contexts = new Map<string, Stored>();
  readonly #deltas = new Map<string, Map<number, Stored>>();
  readonly #clock: () => number;
  readonly #limits: Required<JsonLimits>;

  constructor({ clock = Date.now, limits }: { clock?: () => number; limits?: JsonLimits } = {}) {
    this.#clock = clock;
    this.#limits = resolveLimits(limits);
  }

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    validateContextId(contextId);
    const json = serializeJsonObject(context, 'context', this.#limits);
    validateVersion(version);
    const epoch = this.#contexts.get(contextId)?.epoch ?? randomUUID();
    const stored = { json, version, insertedAt: readClock(this.#clock), epoch };
    this.#contexts.set(contextId, stored);
    return { contextId, context: JSON.parse(json) as JsonObject, version, insertedAt: stored.insertedAt, epoch };
  }

  async getContext(contextId: string): Promise<ContextRecord | null> {
    validateContextId(contextId);
    const stored = this.#contexts.get(contextId);
    if (stored === undefined) return null;
    return { contextId, context: JSON.parse(stored.json) as JsonObject, version: stored.version, insertedAt: stored.insertedAt, epoch: stored.epoch! };
  }

  async deleteContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    return this.#contexts.delete(contextId) ? 1 : 0;
  }

  async setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord> {
    validateContextId(contextId);
    const json = serializeJsonObject(delta, 'delta', deltaLimits(this.#limits));
    validateVersion(version);
    const stored = { json, version, insertedAt: readClock(this.#clock) };
    let versions = this.#deltas.get(contextId);
    if (versions === undefined) this.#deltas.set(contextId, (versions = new Map()));
    versions.set(version, stored);
    return { contextId, delta: JSON.parse(json) as Delta, version, insertedAt: stored.insertedAt };
  }

  async getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]> {
    validateContextId(contextId);
    validateVersion(clientVersion, 'clientVersion');
    return this.#deltaRecords(contextId).filter((d) => d.version > clientVersion);
  }

  async deleteDeltasForContext(contextId: string): Promise<number> {
    validateContextId(contextId);
    const count = this.#deltas.get(contextId)?.size ?? 0;
    this.#deltas.delete(contextId);
    return count;
  }

  async deleteDeltasByTime(contextId: string, olderThanTime: number): Promise<number> {
    validateContextId(contextId);
    validateTimestamp(olderThanTime, 'olderThanTime');
    return this.#deleteWhere(contextId, (d) => d.insertedAt < olderThanTime);
  }

  async deleteDeltasExceedingThreshold(contextId: string, versionThreshold: number): Promise<number> {
    validateContextId(contextId);
    validateCount(versionThreshold, 'versionThreshold');
    const newest = this.#deltaRecords(contextId).map((d) => d.version).slice(-versionThreshold || Number.POSITIVE_INFINITY);
    const keep = new Set(versionThreshold === 0 ? [] : newest);
    return this.#deleteWhere(contextId, (d) => !keep.has(d.version));
  }

  async listContexts(options?: ListOptions): Promise<ContextRecord[]> {
    const o = validateListOptions(options);
    const ids = [...this.#contexts.keys()].filter((id) => o.contextId === undefined || id === o.contextId).sort(byBytes);
    if (o.order === 'desc') ids.reverse();
    const records: ContextRecord[] = [];
    for (const id of ids) {
      const record = (await this.getContext(id))!;
      if ((o.version === undefined || record.version === o.version) && (o.insertedAt === undefined || record.insertedAt >= o.insertedAt)) records.push(record);
    }
    return page(records, o);
  }

  async listContextsWithDeltaCounts(options?: ListOptions): Promise<DeltaCount[]> {
    const o = validateListOptions(options);
    const counts = this.#matchingDeltas(o).reduce((m, d) => m.set(d.contextId, (m.get(d.contextId) ?? 0) + 1), new Map<string, number>());
    return page([...counts].map(([contextId, count]) => ({ contextId, count })), o);
  }

  async listDeltas(options?: ListOptions): Promise<DeltaRecord[]> {
    const o = validateListOptions(options);
    return page(this.#matchingDeltas(o), o);
  }

  #matchingDeltas(o: ListOptions): DeltaRecord[] {
    const ids = [...this.#deltas.keys()].filter((id) => o.contextId === undefined || id === o.contextId).sort(byBytes);
    if (o.order === 'desc') ids.reverse();
    return ids.flatMap((id) => {
      const list = this.#deltaRecords(id).filter(
        (d) => (o.version === undefined || d.version === o.version) && (o.insertedAt === undefined || d.insertedAt >= o.insertedAt),
      );
      return o.order === 'desc' ? list.reverse() : list;
    });
  }

  #deltaRecords(contextId: string): DeltaRecord[] {
    const versions = this.#deltas.get(contextId);
    if (versions === undefined) return [];
    return [...versions.values()]
      .sort((a, b) => a.version - b.version)
      .map((d) => ({ contextId, delta: JSON.parse(d.json) as Delta, version: d.version, insertedAt: d.insertedAt }));
  }

  #deleteWhere(contextId: string, doomed: (d: Stored) => boolean): number {
    const versions = this.#deltas.get(contextId);
    if (versions === undefined) return 0;
    let count = 0;
    for (const [version, d] of versions) if (doomed(d) && versions.delete(version)) count++;
    if (versions.size === 0) this.#deltas.delete(contextId);
    return count;
  }
}

// What a user's test file holds: a harness and the two suites, with the capabilities it lacks switched off.
// (A user passes `{ describe, test }` from their runner; forTarget is that pair with the target in each name.)
const harness = { makeBackend: ({ clock }: { clock: () => number }) => new MapBackend({ clock }) };
const suite = forTarget('a Map-based custom backend');
runBackendConformance(suite, harness, { atomicWrites: false, bulkCleanup: false, syncReads: false, atomicRestore: false });
runEngineConformance(suite, harness, { atomicWrites: false, bulkCleanup: false, atomicRestore: false, propertyRuns: 200 });
