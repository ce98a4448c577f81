/** Redis Cluster's number of hash slots. */
export const CLUSTER_SLOTS = 16384;

// CRC16-CCITT (XMODEM), the hash Redis Cluster puts keys into slots with.
const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** The cluster slot of a hash tag's text (the part between `{` and `}`), which must be ASCII. */
export function slotOfTag(tag: string): number {
  let crc = 0;
  for (let i = 0; i < tag.length; i++) {
    crc = ((crc << 8) & 0xffff) ^ (CRC16_TABLE[((crc >> 8) ^ tag.charCodeAt(i)) & 0xff] as number);
  }
  return crc % CLUSTER_SLOTS;
}

/** The hash tag of a context id: the hex of its UTF-8 bytes (no `{` or `}`, and byte order kept). */
export function idTag(contextId: string): string {
  return Buffer.from(contextId, 'utf8').toString('hex');
}

let slotTags: string[] | undefined;

/**
 * For every slot, a short tag that hashes to it, so the index keys of a slot can share a slot with
 * the contexts they index (and so be written by the same script). Found once, by counting up in
 * base 36 until every slot has one (about 170 000 short hashes, a few milliseconds).
 */
export function tagsBySlot(): readonly string[] {
  if (slotTags !== undefined) return slotTags;
  const tags = new Array<string>(CLUSTER_SLOTS);
  let found = 0;
  for (let n = 0; found < CLUSTER_SLOTS; n++) {
    const tag = n.toString(36);
    const slot = slotOfTag(tag);
    if (tags[slot] === undefined) {
      tags[slot] = tag;
      found++;
    }
  }
  slotTags = tags;
  return tags;
}

/** The names of the keys one context's scripts touch, in the order the scripts declare them. */
export interface ContextKeys {
  /** The keys: context hash, delta versions, delta JSON, delta times, the five index keys of its bucket, then the receipts and their times. */
  readonly keys: string[];
  /** The notice channel of the context's bucket. */
  readonly channel: string;
}

/**
 * Key layout (`P` the key prefix, `T` the context's tag, `B` its bucket's tag):
 * - `P:{T}:c` hash `j` (context JSON), `v` (version), `t` (last write time), `e` (epoch);
 * - `P:{T}:dv` sorted set of delta versions (score = version), `P:{T}:dj` hash version → delta
 *   JSON, `P:{T}:dt` sorted set of delta versions by write time (score = time): versions and times
 *   are never mixed in one structure;
 * - the bucket's indexes: `P:ix{B}:xc` ids with a context and `P:ix{B}:xd` ids with deltas (all
 *   score 0, so ordered by their bytes), `P:ix{B}:xct` ids by context write time, `P:ix{B}:xdn`
 *   ids by number of deltas, `P:ix{B}:xdt` ids by the write time of their oldest delta;
 * - `P:{T}:w` hash client id → `"<writeId> <version> <epoch>"` (the receipt of its last write
 *   applied), `P:{T}:wt` sorted set of client ids by that write's time.
 * On one Redis there is one bucket (no `{B}`); on a Cluster one per slot, with a tag hashing to it.
 */
export class KeyLayout {
  readonly prefix: string;
  readonly cluster: boolean;

  constructor(prefix: string, cluster: boolean) {
    this.prefix = prefix;
    this.cluster = cluster;
  }

  /** The bucket tag for a context tag: `''` on one Redis, the slot's tag on a Cluster. */
  bucketOf(tag: string): string {
    return this.cluster ? (tagsBySlot()[slotOfTag(tag)] as string) : '';
  }

  indexKey(bucket: string, suffix: string): string {
    return this.cluster ? `${this.prefix}:ix{${bucket}}:${suffix}` : `${this.prefix}:ix:${suffix}`;
  }

  channelOf(bucket: string): string {
    return this.cluster ? `${this.prefix}:n{${bucket}}` : `${this.prefix}:n`;
  }

  contextKey(contextId: string): string {
    return `${this.prefix}:{${idTag(contextId)}}:c`;
  }

  forContext(contextId: string): ContextKeys {
    const tag = idTag(contextId);
    const base = `${this.prefix}:{${tag}}:`;
    const bucket = this.bucketOf(tag);
    return {
      keys: [
        `${base}c`,
        `${base}dv`,
        `${base}dj`,
        `${base}dt`,
        this.indexKey(bucket, 'xc'),
        this.indexKey(bucket, 'xct'),
        this.indexKey(bucket, 'xd'),
        this.indexKey(bucket, 'xdn'),
        this.indexKey(bucket, 'xdt'),
        `${base}w`,
        `${base}wt`,
      ],
      channel: this.channelOf(bucket),
    };
  }
}
