// Sends the writes of one context to the sync route, one at a time and in order: the next only
// once the previous is answered. An answer that is lost (the connection broke, the request timed
// out, the server answered 5xx, 408 or 429, or sent a body that is not an answer) is asked for
// again with the same (clientId, writeId), with backoff, until the server answers: the server
// applies a (contextId, clientId, writeId) at most once, so sending again cannot apply it twice.
// Any other status is the server's final word on that write. Transport only: what the answers
// mean for the state is the OptimisticState's business (ChordClient wires the two together).
import { encodeChanges, type WriteAnswer, type WriteRequest } from '../wire/writes.js';
import type { ContextChanges } from '../engine/index.js';
import { ChordClientError } from './client-error.js';
import type { PendingWrite } from './optimistic-state.js';

/** Constructor input of {@link WriteSender}. */
export interface WriteSenderConfig {
  readonly fetch: typeof fetch;
  /** The context's URL on the sync route (`{basePath}/{encodeURIComponent(id)}`). */
  readonly url: string;
  /** The extra request headers for each attempt (auth…). */
  readonly headers: () => Promise<Headers>;
  /** This client's id, the same for every write it makes. */
  readonly clientId: string;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** An attempt not answered within this many ms is abandoned and made again. */
  readonly timeoutMs: number;
  /** The oldest write not yet answered, if any. */
  readonly next: () => PendingWrite | undefined;
  /** The server applied the write (now or, for a duplicate, before). */
  readonly answered: (writeId: number, answer: WriteAnswer) => void;
  /** The server refused the write for good. */
  readonly refused: (writeId: number, error: ChordClientError) => void;
  /** Told of each attempt whose answer was lost (the write is sent again). */
  readonly onError: (error: unknown) => void;
}

type Attempt =
  | { readonly kind: 'answered'; readonly answer: WriteAnswer }
  | { readonly kind: 'refused'; readonly error: ChordClientError }
  | { readonly kind: 'lost'; readonly error: ChordClientError };

/** Whether a status means the answer (not the write) was lost: the server or a proxy in between may answer otherwise next time. */
function answerLost(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function isAnswer(value: unknown): value is WriteAnswer {
  if (value === null || typeof value !== 'object') return false;
  const { version, epoch, duplicate } = value as Record<string, unknown>;
  return Number.isSafeInteger(version) && (version as number) >= 0 && typeof epoch === 'string' && typeof duplicate === 'boolean';
}

/** The body of `write`, as sent on every attempt. */
export function writeRequest(write: PendingWrite, clientId: string): WriteRequest {
  const local = write.write;
  const base = {
    clientId,
    writeId: write.writeId,
    ...(local.expectedVersion === undefined ? {} : { expectedVersion: local.expectedVersion }),
    ...(local.epoch === undefined ? {} : { epoch: local.epoch }),
  };
  if (local.kind === 'set') return { kind: 'set', context: local.context, ...base };
  const { merge, unset } = encodeChanges(local.changes as ContextChanges);
  return { kind: 'update', merge, unset, ...base };
}

/** The write loop of one context (see the top of this file). */
export class WriteSender {
  readonly #config: WriteSenderConfig;
  #running = false;
  #closed = false;
  #attempt: AbortController | undefined;
  #wake: (() => void) | undefined;

  constructor(config: WriteSenderConfig) {
    this.#config = config;
  }

  /** A write was queued: starts sending, unless already at it. */
  kick(): void {
    if (this.#running || this.#closed) return;
    void this.#run();
  }

  /** Stops: the attempt in flight is abandoned (the server may still apply it) and nothing more is sent. */
  close(): void {
    this.#closed = true;
    this.#attempt?.abort();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (;;) {
        const write = this.#closed ? undefined : this.#config.next();
        if (write === undefined) return;
        const body = JSON.stringify(writeRequest(write, this.#config.clientId));
        for (let failures = 0; ; failures++) {
          const attempt = await this.#post(write.writeId, body);
          if (this.#closed) return;
          if (attempt.kind === 'answered') {
            this.#config.answered(write.writeId, attempt.answer);
            break;
          }
          if (attempt.kind === 'refused') {
            this.#config.refused(write.writeId, attempt.error);
            break;
          }
          this.#config.onError(attempt.error);
          const ceiling = Math.min(this.#config.maxBackoffMs, this.#config.initialBackoffMs * 2 ** Math.min(failures, 30));
          await this.#sleep(ceiling / 2 + Math.random() * (ceiling / 2));
          if (this.#closed) return;
        }
      }
    } finally {
      this.#running = false;
    }
  }

  async #post(writeId: number, body: string): Promise<Attempt> {
    const attempt = new AbortController();
    this.#attempt = attempt;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attempt.abort();
    }, this.#config.timeoutMs);
    const what = `write ${writeId} to ${this.#config.url}`;
    try {
      const headers = await this.#config.headers();
      headers.set('content-type', 'application/json');
      headers.set('accept', 'application/json');
      const response = await this.#config.fetch(this.#config.url, { method: 'POST', headers, body, signal: attempt.signal });
      let parsed: unknown;
      try {
        parsed = await response.json();
      } catch {
        parsed = undefined; // not JSON (a proxy's page): the status says enough
      }
      if (response.ok) {
        if (isAnswer(parsed)) return { kind: 'answered', answer: parsed };
        return { kind: 'lost', error: new ChordClientError(`${what}: the ${response.status} answer is not a write answer`, response.status) };
      }
      const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      const serverCode = typeof error?.code === 'string' ? error.code : undefined;
      const detail = typeof error?.message === 'string' ? `: ${error.message}` : '';
      const clientError = new ChordClientError(`${what} ${answerLost(response.status) ? 'failed' : 'refused'} with ${response.status}${detail}`, response.status, serverCode);
      return { kind: answerLost(response.status) ? 'lost' : 'refused', error: clientError };
    } catch (cause) {
      const reason = timedOut ? `no answer within ${this.#config.timeoutMs} ms` : cause instanceof Error ? cause.message : String(cause);
      return { kind: 'lost', error: new ChordClientError(`${what}: ${reason}`, undefined, undefined, { cause }) };
    } finally {
      clearTimeout(timer);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
