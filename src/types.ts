/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object: the shape of every context. */
export type JsonObject = { [key: string]: Json };

/**
 * A change from one context to the next. It is a JSON object (it is stored as JSON); its inner
 * shape belongs to `src/delta` and is read only through the delta functions.
 */
export type Delta = JsonObject;

/** The stored state of one context. */
export interface ContextRecord {
  readonly contextId: string;
  readonly context: JsonObject;
  readonly version: number;
  /** The backend clock's time of the last write of this context. */
  readonly insertedAt: number;
  /**
   * Opaque; new each time the id comes into existence (its first write, or the first after a
   * delete or an expiry) and unchanged by later writes, so a version is only meaningful with the
   * epoch it belongs to. Every built-in backend sets it; a backend without epochs leaves it out.
   */
  readonly epoch?: string;
}

/** The stored delta that took a context to `version`. */
export interface DeltaRecord {
  readonly contextId: string;
  readonly delta: Delta;
  readonly version: number;
  /** The backend clock's time when the delta was written. */
  readonly insertedAt: number;
}

/**
 * The answer to `syncContext`. `epoch` is the context's current epoch (absent on a backend without
 * epochs). Answers may be shared between concurrent callers: treat them as read-only.
 */
export type SyncResult =
  | { readonly kind: 'full'; readonly context: ContextRecord }
  | { readonly kind: 'delta'; readonly delta: Delta; readonly fromVersion: number; readonly version: number; readonly epoch?: string }
  | { readonly kind: 'no_change'; readonly version: number; readonly epoch?: string };
