import type { Reply } from './respond.js';

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
  }
}

export class BodyAbortedError extends Error {
  constructor() {
    super('client went away while sending the body');
  }
}

/**
 * Collects a request body up to `limit` bytes. Rejects with BodyTooLargeError as soon as the
 * declared or received length passes the limit, without buffering the rest (the Reply reads and
 * discards what is still coming when the refusal is sent: see its lingering close). Call it
 * synchronously in the route handler. uWS neuters each chunk after the callback, so chunks are copied.
 */
export function readBody(reply: Reply, declaredLength: number | undefined, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (declaredLength !== undefined && declaredLength > limit) {
      reject(new BodyTooLargeError(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    reply.onAbort(() => {
      if (!settled) {
        settled = true;
        reject(new BodyAbortedError());
      }
    });
    reply.onBody((chunk, isLast) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > limit) {
        settled = true;
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(Buffer.from(new Uint8Array(chunk.slice(0))));
      if (isLast) {
        settled = true;
        resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      }
    });
  });
}
