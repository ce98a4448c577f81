import { type ChordBackend, hasExclusiveCleanup } from '../backend.js';
import type { CleanupReport } from './cleanup.js';

/**
 * One scheduled cleanup pass: through the backend's cross-process lock when it has one
 * (`ExclusiveCleanup`), so app instances on one database take turns instead of deleting the same
 * rows at once. A pass skipped because another process is running one reports nothing deleted.
 */
export async function exclusivePass(backend: ChordBackend, pass: () => Promise<CleanupReport>): Promise<CleanupReport> {
  if (!hasExclusiveCleanup(backend)) return pass();
  const started = performance.now();
  const outcome = await backend.withExclusiveCleanup(pass);
  if (outcome.ran) return outcome.result;
  return {
    contextsDeleted: 0,
    deltasDeleted: { withContexts: 0, expired: 0, beyondThreshold: 0, total: 0 },
    durationMs: performance.now() - started,
  };
}
