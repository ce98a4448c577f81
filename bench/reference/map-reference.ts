/**
 * The in-memory baseline: plain `Map`s, with values kept as JSON text (stringify on write, parse on
 * read) because the contract forbids handing out or keeping a caller's object, and deltas in an
 * array per id sorted by version. No validation, no ordered id index (so no listing): the least a
 * process-local store of this contract must do.
 */
import { calculateDelta, isEmptyDelta, mergeDeltas } from 'chord-sync';
import type { ContextRecord, Delta, DeltaRecord, JsonObject } from 'chord-sync';
import type { ReferenceSync } from './pg-reference.js';

interface Stored {
  json: string;
  version: number;
  insertedAt: number;
}

export class MapReference {
  readonly #contexts = new Map<string, Stored>();
  readonly #deltas = new Map<string, Stored[]>();

  async setContext(contextId: string, context: JsonObject, version: number): Promise<ContextRecord> {
    const stored = { json: JSON.stringify(context), version, insertedAt: Date.now() };
    this.#contexts.set(contextId, stored);
    return { contextId, context: JSON.parse(stored.json) as JsonObject, version, insertedAt: stored.insertedAt };
  }

  async getContext(contextId: string): Promise<ContextRecord | null> {
    const s = this.#contexts.get(contextId);
    return s === undefined ? null : { contextId, context: JSON.parse(s.json) as JsonObject, version: s.version, insertedAt: s.insertedAt };
  }

  async setDelta(contextId: string, delta: Delta, version: number): Promise<DeltaRecord> {
    const stored = { json: JSON.stringify(delta), version, insertedAt: Date.now() };
    let list = this.#deltas.get(contextId);
    if (list === undefined) this.#deltas.set(contextId, (list = []));
    const last = list.at(-1);
    if (last === undefined || last.version < version) list.push(stored);
    else {
      const i = list.findIndex((d) => d.version >= version);
      if (list[i]!.version === version) list[i] = stored;
      else list.splice(i, 0, stored);
    }
    return { contextId, delta: JSON.parse(stored.json) as Delta, version, insertedAt: stored.insertedAt };
  }

  async getDeltas(contextId: string, clientVersion: number): Promise<DeltaRecord[]> {
    const list = this.#deltas.get(contextId) ?? [];
    const out: DeltaRecord[] = [];
    for (const d of list) {
      if (d.version > clientVersion) out.push({ contextId, delta: JSON.parse(d.json) as Delta, version: d.version, insertedAt: d.insertedAt });
    }
    return out;
  }

  async deleteContext(contextId: string): Promise<number> {
    return this.#contexts.delete(contextId) ? 1 : 0;
  }

  async deleteDeltasForContext(contextId: string): Promise<number> {
    const n = this.#deltas.get(contextId)?.length ?? 0;
    this.#deltas.delete(contextId);
    return n;
  }

  async write(contextId: string, next: JsonObject): Promise<void> {
    const current = await this.getContext(contextId);
    const delta = calculateDelta(current?.context ?? {}, next);
    if (current !== null && isEmptyDelta(delta)) return;
    const version = (current?.version ?? 0) + 1;
    await this.setDelta(contextId, delta, version);
    await this.setContext(contextId, next, version);
  }

  async sync(contextId: string, clientVersion: number): Promise<ReferenceSync> {
    const current = await this.getContext(contextId);
    if (current === null) throw new Error(`no context ${contextId}`);
    const version = current.version;
    if (clientVersion >= version) return clientVersion === version ? { kind: 'no_change', version } : { kind: 'full', context: current };
    const deltas = (await this.getDeltas(contextId, clientVersion)).filter((d) => d.version <= version);
    if (deltas.length !== version - clientVersion) return { kind: 'full', context: current };
    return { kind: 'delta', delta: mergeDeltas(deltas.map((d) => d.delta)), fromVersion: clientVersion, version };
  }
}
