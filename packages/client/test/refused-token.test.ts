import { describe, expect, it } from 'vitest';
import { AuthError } from '../src/core/errors.js';
import { RefusedToken } from '../src/core/refused-token.js';

describe('RefusedToken (the one refused-credentials rule of both client families)', () => {
  it('retries only with a token provider and reconnecting on', () => {
    expect(new RefusedToken({ getToken: () => 'x' }).retryable).toBe(true);
    expect(new RefusedToken({}).retryable).toBe(false);
    expect(new RefusedToken({ getToken: () => 'x', reconnect: false }).retryable).toBe(false);
  });

  it('stops on the refused token, including a refused absence of token, until a connection is accepted', () => {
    const policy = new RefusedToken({ getToken: () => 'x' });
    expect(policy.check('a')).toBeUndefined();
    policy.refuse('a');
    expect(policy.check('a')).toBeInstanceOf(AuthError);
    expect(policy.check('b')).toBeUndefined();
    policy.refuse(undefined);
    expect(policy.check(undefined)?.message).toBe('the server refused the token and getToken() returned the same one: not reconnecting');
    policy.accepted();
    expect(policy.check(undefined)).toBeUndefined();
  });
});
