export { MemoryBackend, DEFAULT_MEMORY_CLOCK } from './memory-backend.js';
export type { MemoryBackendConfig } from './memory-backend.js';
