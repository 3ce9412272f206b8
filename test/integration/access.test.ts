import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import { NodeProcess } from '../support/node-process.js';
import { TestClient } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';

/** Who may connect to /ws/analytics: required JWTs and the per-node connection cap. */
const SECRET = 'access-test-secret-access-test-secret';
let node: NodeProcess;
const clients: TestClient[] = [];

const token = (claims: Record<string, unknown>, options: jwt.SignOptions = { expiresIn: 60 }) =>
  jwt.sign({ sub: 'user-1', ...claims }, SECRET, { algorithm: 'HS256', issuer: 'switchboard-tests', ...options });

beforeAll(async () => {
  node = await NodeProcess.start('all', {
    AUTH_REQUIRED: 'true',
    JWT_SECRET: SECRET,
    JWT_ISSUER: 'switchboard-tests',
    MAX_CONNECTIONS: '2',
    LOG_LEVEL: 'warn',
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await node?.stop('SIGKILL');
});

describe('JWT on /ws/analytics when AUTH_REQUIRED=true', () => {
  const url = () => node.wsUrl('/ws/analytics');

  it.each([
    ['no token', '', 'Authentication required'],
    ['garbage', '?token=garbage', 'Authentication failed'],
    ['an expired token', `?token=${token({ exp: Math.floor(Date.now() / 1000) - 60 }, {})}`, 'Authentication failed'],
    ['a token without expiry', `?token=${token({}, {})}`, 'Authentication failed'],
    ['a wrong issuer', `?token=${token({}, { expiresIn: 60, issuer: 'someone-else' })}`, 'Authentication failed'],
    ['another key', `?token=${jwt.sign({ sub: 'x' }, 'another-secret-another-secret-0000', { expiresIn: 60, issuer: 'switchboard-tests' })}`, 'Authentication failed'],
    ['alg none', `?token=${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', exp: 9_999_999_999, iss: 'switchboard-tests' })).toString('base64url')}.`, 'Authentication failed'],
  ])('refuses %s with 401', async (_what, query, message) => {
    const refused = await TestClient.refusal(`${url()}${query}`);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body)).toEqual({ error: message });
  });

  it('accepts a valid token in the query string or the Authorization header', async () => {
    const viaQuery = await TestClient.connect(`${url()}?token=${token({})}`);
    clients.push(viaQuery);
    await viaQuery.next((f) => f.type === 'initial_stats');
    const viaHeader = await TestClient.connect(url(), { headers: { authorization: `Bearer ${token({})}` } });
    clients.push(viaHeader);
    await viaHeader.next((f) => f.type === 'initial_stats');
  });

  it('refuses connections over MAX_CONNECTIONS with 503, and admits again once one leaves', async () => {
    const over = await TestClient.refusal(`${url()}?token=${token({})}`);
    expect(over.status).toBe(503);
    expect((JSON.parse(over.body) as { error: string }).error).toMatch(/MAX_CONNECTIONS/);
    clients.shift()?.close();
    await waitFor(async () => (await node.json<{ connectedClients: number }>('/health')).connectedClients < 2, {
      what: 'the closed connection released',
    });
    const again = await TestClient.connect(`${url()}?token=${token({})}`);
    clients.push(again);
    await again.next((f) => f.type === 'initial_stats');
  });
});
