/**
 * `chord-sync/client`: keeps contexts in sync over the SSE routes of `chord-sync/http`, one per
 * `ChordClient` or many over one stream with `ChordConnection`. Runs in browsers and Node as it
 * is: no dependencies, no Node-only imports.
 */
export { ChordClient, ChordClientError, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_INITIAL_BACKOFF_MS, DEFAULT_MAX_BACKOFF_MS, DEFAULT_WRITE_TIMEOUT_MS } from './chord-client.js';
export type { ChordClientConfig, ChordClientState, ChordClientWriteOptions, HeaderValues } from './chord-client.js';
export { unset } from '../delta/index.js';
export { ChordConnection, ConnectionContext, DEFAULT_FOLLOW_DEBOUNCE_MS } from './chord-connection.js';
export type { ChordConnectionConfig } from './chord-connection.js';
export { SseParser } from './sse-parser.js';
export type { SseEvent } from './sse-parser.js';
export { applyDelta } from '../delta/index.js';
export type { Delta, Json, JsonObject } from '../types.js';
