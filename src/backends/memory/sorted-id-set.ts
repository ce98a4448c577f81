import { compareCodePoints } from './code-point-order.js';

/** A set of ids kept in code point order, so listing walks it instead of sorting per call. */
export class SortedIdSet {
  readonly #ids: string[] = [];

  get size(): number {
    return this.#ids.length;
  }

  add(id: string): void {
    const last = this.#ids.at(-1);
    // Ids often arrive in ascending order (generated keys, time prefixes): append without searching.
    if (last === undefined || compareCodePoints(last, id) < 0) {
      this.#ids.push(id);
      return;
    }
    const i = this.#lowerBound(id);
    if (this.#ids[i] !== id) this.#ids.splice(i, 0, id);
  }

  delete(id: string): void {
    const i = this.#lowerBound(id);
    if (this.#ids[i] === id) this.#ids.splice(i, 1);
  }

  /** The ids in ascending or descending order. Don't change the set while iterating. */
  *values(order: 'asc' | 'desc' = 'asc'): Generator<string> {
    const ids = this.#ids;
    if (order === 'asc') {
      for (let i = 0; i < ids.length; i++) yield ids[i] as string;
    } else {
      for (let i = ids.length - 1; i >= 0; i--) yield ids[i] as string;
    }
  }

  /** The first index whose id is not below `id`. */
  #lowerBound(id: string): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareCodePoints(this.#ids[mid] as string, id) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
