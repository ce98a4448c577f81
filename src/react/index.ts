/**
 * `chord-sync/react`: `useChordContext(connection, contextId)`, a `useSyncExternalStore` hook over
 * a `ChordConnection` of `chord-sync/client`. `react` (18 or later) is an optional peer dependency:
 * only this entry point needs it.
 */
export { useChordContext } from './use-chord-context.js';
export type { ChordContextHandle, ChordContextSource, ChordContextView } from './use-chord-context.js';
