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

/** How a body read ends: the body as text, or why there is none. */
export interface BodyReader {
  text(text: string): void;
  failed(err: BodyTooLargeError | BodyAbortedError): void;
}

/**
 * Collects a request body up to `limit` bytes and hands it over as UTF-8 text. Fails with
 * BodyTooLargeError as soon as the declared or received length passes the limit, without
 * buffering the rest (the Reply reads and discards what is still coming when the refusal is
 * sent: see its lingering close). Call it synchronously in the route handler. uWS neuters each
 * chunk after the callback: a body in one chunk (the usual case) is decoded during it, larger
 * ones are copied chunk by chunk. Callbacks, not a promise: this runs once per ingest request.
 */
export function readBody(reply: Reply, declaredLength: number | undefined, limit: number, reader: BodyReader): void {
  if (declaredLength !== undefined && declaredLength > limit) {
    reader.failed(new BodyTooLargeError(limit));
    return;
  }
  let chunks: Buffer[] | undefined;
  let size = 0;
  let settled = false;
  reply.onAbort(() => {
    if (settled) return;
    settled = true;
    reader.failed(new BodyAbortedError());
  });
  reply.onBody((chunk, isLast) => {
    if (settled) return;
    size += chunk.byteLength;
    if (size > limit) {
      settled = true;
      reader.failed(new BodyTooLargeError(limit));
      return;
    }
    if (isLast && chunks === undefined) {
      settled = true;
      reader.text(Buffer.from(chunk).toString('utf8'));
      return;
    }
    (chunks ??= []).push(Buffer.from(chunk.slice(0)));
    if (isLast) {
      settled = true;
      reader.text(Buffer.concat(chunks, size).toString('utf8'));
    }
  });
}
