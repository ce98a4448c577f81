// The write half of the sync route: `POST {basePath}/{id}` with a body of src/wire/writes.ts.
import type { ContextChanges, WriteOptions, WriteResult } from '../engine/chord.js';
import { ValidationError } from '../errors.js';
import type { JsonObject } from '../types.js';
import { describe } from '../validation.js';
import { type WriteAnswer, type WriteRequest, decodeChanges, parseWriteRequest } from '../wire/writes.js';

/** Default `maxWriteBytes`: the largest write body the sync route reads, 1 MiB. */
export const DEFAULT_MAX_WRITE_BYTES = 1024 * 1024;

/** A client's write as `authorizeWrite` sees it: exactly what will be written, `unset` as the sentinel. */
export type ClientWrite =
  | { readonly kind: 'update'; readonly changes: ContextChanges; readonly expectedVersion?: number; readonly epoch?: string }
  | { readonly kind: 'set'; readonly context: JsonObject; readonly expectedVersion?: number; readonly epoch?: string };

/** What the sync handler needs of a `Chord` to take writes: its two writes. */
export interface WriteTarget {
  setContext(contextId: string, context: JsonObject, options?: WriteOptions): Promise<WriteResult>;
  updateContext(contextId: string, changes: ContextChanges, options?: WriteOptions): Promise<WriteResult>;
}

/** The body is larger than `maxWriteBytes` (answered 413; nothing was written). */
export class WriteTooLargeError extends ValidationError {
  constructor(maxWriteBytes: number) {
    super('body', `is larger than maxWriteBytes (${maxWriteBytes} bytes)`);
  }
}

/**
 * The body of `request` as text, reading at most `maxBytes` bytes: a longer body (by its
 * `Content-Length` or by what arrives) is cancelled and refused with {@link WriteTooLargeError}.
 */
export async function readBoundedBody(request: Request, maxBytes: number): Promise<string> {
  const type = request.headers.get('content-type');
  if (type === null || type.split(';')[0]?.trim().toLowerCase() !== 'application/json') {
    await request.body?.cancel().catch(() => {});
    throw new ValidationError('content-type', `must be application/json, got ${describe(type)}`);
  }
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw new WriteTooLargeError(maxBytes);
  }
  if (request.body === null) throw new ValidationError('body', 'is missing');
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new WriteTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new ValidationError('body', 'is not valid UTF-8', { cause });
  }
}

/** The write a body asks for, checked in full (`ValidationError` naming the field) before anything is done. */
export function parseWriteBody(text: string): { request: WriteRequest; write: ClientWrite } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new ValidationError('body', `is not JSON: ${cause instanceof Error ? cause.message : describe(cause)}`, { cause });
  }
  const request = parseWriteRequest(body);
  const guards = {
    ...(request.expectedVersion === undefined ? {} : { expectedVersion: request.expectedVersion }),
    ...(request.epoch === undefined ? {} : { epoch: request.epoch }),
  };
  const write: ClientWrite =
    request.kind === 'set'
      ? { kind: 'set', context: request.context, ...guards }
      : { kind: 'update', changes: decodeChanges(request.merge, request.unset), ...guards };
  return { request, write };
}

/** Applies an authorized write through the engine, at most once per (contextId, clientId, writeId). */
export async function applyClientWrite(target: WriteTarget, contextId: string, request: WriteRequest, write: ClientWrite): Promise<WriteAnswer> {
  const options: WriteOptions = {
    ...(write.expectedVersion === undefined ? {} : { expectedVersion: write.expectedVersion }),
    ...(write.epoch === undefined ? {} : { epoch: write.epoch }),
    writeId: { clientId: request.clientId, writeId: request.writeId },
  };
  const result = write.kind === 'set' ? await target.setContext(contextId, write.context, options) : await target.updateContext(contextId, write.changes, options);
  if (result.duplicate !== undefined) return { version: result.duplicate.version, epoch: result.duplicate.epoch ?? '', duplicate: true };
  return { version: result.context.version, epoch: result.context.epoch ?? '', duplicate: false };
}
