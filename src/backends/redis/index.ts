// The `chord-sync/redis` entry: the backend on Redis and Redis Cluster (node-redis, a peer dependency).
export {
  RedisBackend,
  DEFAULT_KEY_PREFIX,
  DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
} from './redis-backend.js';
export type {
  RedisBackendConfig,
  RedisBackendCommonConfig,
  RedisBackendUrlConfig,
  RedisBackendClusterConfig,
  RedisBackendClientConfig,
} from './redis-backend.js';
/** The Lua scripts RedisBackend runs (their text, as constants), for review, tooling and the bench. */
export * as redisScripts from './scripts.js';
