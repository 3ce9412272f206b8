import { AuthError } from './errors.js';

/**
 * The SDK's one rule for refused credentials, shared by the raw WebSocket and Socket.IO clients:
 * a refused connection is retried only when a token provider exists (a fixed token would be
 * refused again) and reconnecting is on, and the retry goes ahead only when the provider now
 * yields a different token than the refused one. An accepted connection clears the refusal.
 */
export class RefusedToken {
  private refused: { token: string | undefined } | undefined;

  constructor(private readonly options: { getToken?: unknown; reconnect?: unknown }) {}

  /** Whether a refusal may be followed by another attempt at all. */
  get retryable(): boolean {
    return this.options.getToken !== undefined && this.options.reconnect !== false;
  }

  /** The server refused `token`. */
  refuse(token: string | undefined): void {
    this.refused = { token };
  }

  /** A connection was accepted: earlier refusals no longer matter. */
  accepted(): void {
    this.refused = undefined;
  }

  /** The error to stop with when `token` is the one the server refused; undefined when it may be tried. */
  check(token: string | undefined): AuthError | undefined {
    if (this.refused === undefined || this.refused.token !== token) return undefined;
    return new AuthError('the server refused the token and getToken() returned the same one: not reconnecting');
  }
}
