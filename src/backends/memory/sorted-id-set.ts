import sortedBtree from 'sorted-btree';
import { compareCodePoints } from './code-point-order.js';

// sorted-btree is CommonJS with its class on `exports.default`. Node gives an ES module's default
// import the whole `exports` object; Vitest and bundlers give it `exports.default` itself.
const BTree = ((sortedBtree as { default?: unknown }).default ?? sortedBtree) as typeof sortedBtree.default;

/** Ids read from the tree per step of {@link SortedIdSet.values}; the first step reads few, so a short page stays cheap. */
const FIRST_CHUNK = 64;
const MAX_CHUNK = 1024;

/**
 * A set of ids kept in code point order (UTF-8 byte order, PostgreSQL's `COLLATE "C"`), so listing
 * walks it instead of sorting per call. A B+ tree: adding or deleting an id is O(log n) wherever
 * it falls.
 */
export class SortedIdSet {
  readonly #tree = new BTree<string, undefined>(undefined, compareCodePoints);

  get size(): number {
    return this.#tree.size;
  }

  has(id: string): boolean {
    return this.#tree.has(id);
  }

  add(id: string): void {
    this.#tree.set(id, undefined, false);
  }

  delete(id: string): void {
    this.#tree.delete(id);
  }

  /**
   * The ids in ascending or descending order. The set may change while this is being iterated
   * (a caller that awaits between steps lets other calls run): every id present from the start to
   * the end of the walk is seen exactly once and in order; an id added or deleted meanwhile may or
   * may not be seen.
   */
  *values(order: 'asc' | 'desc' = 'asc'): Generator<string> {
    // The tree's own iterators must not outlive a change to it, so ids are copied out a chunk at a
    // time, and each chunk is read afresh starting after the last id of the one before.
    const chunk: string[] = [];
    let size = FIRST_CHUNK;
    let after: string | undefined;
    for (;;) {
      chunk.length = 0;
      if (order === 'asc') this.#readAscending(after, size, chunk);
      else this.#readDescending(after, size, chunk);
      for (const id of chunk) yield id;
      if (chunk.length < size) return;
      after = chunk[chunk.length - 1];
      size = Math.min(size * 2, MAX_CHUNK);
    }
  }

  /** Appends to `into` up to `max` ids above `after` (all ids when `after` is undefined), ascending. */
  #readAscending(after: string | undefined, max: number, into: string[]): void {
    for (const id of this.#tree.keys(after)) {
      // keys(after) starts at `after` itself when it is still in the set.
      if (id === after) continue;
      into.push(id);
      if (into.length === max) return;
    }
  }

  /** Appends to `into` up to `max` ids below `before` (all ids when `before` is undefined), descending. */
  #readDescending(before: string | undefined, max: number, into: string[]): void {
    for (const [id] of this.#tree.entriesReversed(before, [], true)) {
      into.push(id);
      if (into.length === max) return;
    }
  }
}
