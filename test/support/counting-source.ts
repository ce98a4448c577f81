/**
 * A Chord as the sync handler sees it (a `SyncSource`, and the writes it passes on), counting the
 * `watch` iterators open through it: how many contexts the handler's streams follow right now.
 */
import type { Chord } from '../../src/engine/chord.js';
import type { SyncSource } from '../../src/http/index.js';

export interface CountingSource {
  readonly source: SyncSource & Pick<Chord, 'setContext' | 'updateContext'>;
  /** `watch` iterators open now. */
  open(): number;
  /** The most that were open at once. */
  peak(): number;
}

export function countingWatches(chord: Chord): CountingSource {
  let open = 0;
  let peak = 0;
  const source: CountingSource['source'] = {
    syncContext: (id, version, options) => chord.syncContext(id, version, options),
    setContext: (...args) => chord.setContext(...args),
    updateContext: (...args) => chord.updateContext(...args),
    watch(id, options) {
      const inner = chord.watch(id, options);
      open++;
      peak = Math.max(peak, open);
      let ended = false;
      const end = (): void => {
        if (!ended) {
          ended = true;
          open--;
        }
      };
      return {
        async next() {
          const result = await inner.next();
          if (result.done === true) end();
          return result;
        },
        async return(value) {
          end();
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    },
  };
  return { source, open: () => open, peak: () => peak };
}
