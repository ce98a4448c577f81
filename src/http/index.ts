/**
 * `chord-sync/http`: the sync route as a Web-standard handler (JSON sync and an SSE stream of
 * `watch`), and its adapter for `node:http`.
 */
export {
  createSyncHandler,
  DEFAULT_BASE_PATH,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_STREAMS,
  DEFAULT_MAX_STREAMS_PER_CLIENT,
  DEFAULT_MAX_STREAMS_PER_CONTEXT,
  DEFAULT_MISSING_CONTEXT_WAIT_MS,
  RETRY_AFTER_SECONDS,
} from './sync-handler.js';
export { remoteAddress } from './remote-address.js';
export type { SyncHandler, SyncHandlerOptions, SyncErrorCode, SyncErrorBody } from './sync-handler.js';
export type { SyncSource } from './sync-source.js';
export { DEFAULT_MAX_WRITE_BYTES } from './write-route.js';
export type { ClientWrite, WriteTarget } from './write-route.js';
export type { WriteAnswer, WriteRequest } from '../wire/writes.js';
export type { LiveUpdate } from '../live/index.js';
export { toNodeHandler } from './node-handler.js';
export type { NodeRequestListener } from './node-handler.js';
export { MAX_EPOCH_LENGTH } from './request.js';
export { DEFAULT_MAX_CONTEXTS_PER_STREAM } from './multiplex-stream.js';
