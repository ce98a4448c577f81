export { LiveHub, DEFAULT_WATCH_POLL_MS, MAX_WATCH_POLL_MS, validateWatchPollMs } from './live-hub.js';
export type { LiveUpdate, LiveWatch, WatchOptions, WatchStart, LiveSyncAnswer, LiveSyncRead } from './types.js';
