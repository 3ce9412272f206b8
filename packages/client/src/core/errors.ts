/** The server refused the credentials (HTTP 401/403 at the upgrade, close 1008, `auth_error`, `connect_error`). */
export class AuthError extends Error {
  override readonly name = 'AuthError';
}

/** A frame from the server that is not what the protocol says; the client keeps running. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    message: string,
    /** The start of the offending frame, for logs. */
    readonly frame: string,
  ) {
    super(message);
  }
}

/** The server answered a request with `{ok:false,error}`. */
export class RequestRejectedError extends Error {
  override readonly name = 'RequestRejectedError';
  constructor(
    readonly event: string,
    readonly reason: string,
  ) {
    super(`${event} rejected by the server: ${reason}`);
  }
}

/** No answer within the deadline. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
  constructor(
    readonly event: string,
    readonly timeoutMs: number,
  ) {
    super(`${event}: no answer from the server within ${timeoutMs} ms`);
  }
}

/** The client was closed (or lost its connection) before an answer arrived. */
export class ClientClosedError extends Error {
  override readonly name = 'ClientClosedError';
}
