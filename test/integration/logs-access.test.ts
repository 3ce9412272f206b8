import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import { NodeProcess } from '../support/node-process.js';
import { TestClient } from '../support/ws-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { post } from './helpers.js';
import { appClient, authenticate, history, liveEntries, logsClient } from './logs-helpers.js';

/**
 * Who may read which app on `/ws/logs` (JWT app grants, AUTH_REQUIRED), the idle timeout, and
 * origins at the upgrade of every raw endpoint — on the all role (in-memory engine).
 */
const SECRET = 'logs-access-secret-logs-access-secret';
const ISSUER = 'switchboard-tests';
const IDLE_S = 8;
const AUTH_TIMEOUT_MS = 5_000;
const ORIGIN = 'https://app.example.com';
let node: NodeProcess;
let open: NodeProcess;
const clients: TestClient[] = [];

const token = (claims: Record<string, unknown>, options: jwt.SignOptions = { expiresIn: 60 }) =>
  jwt.sign({ sub: 'user-1', ...claims }, SECRET, { algorithm: 'HS256', issuer: ISSUER, ...options });

async function tryAuth(data: { userId: string; appId: string; token?: string }, target = node) {
  const c = await logsClient(target);
  clients.push(c);
  return { client: c, answer: await authenticate(c, data) };
}

beforeAll(async () => {
  const common = { JWT_SECRET: SECRET, JWT_ISSUER: ISSUER, IDLE_TIMEOUT_S: String(IDLE_S), ALLOWED_ORIGINS: ORIGIN, LOG_LEVEL: 'warn' };
  [node, open] = await Promise.all([
    NodeProcess.start('all', { ...common, AUTH_REQUIRED: 'true' }),
    NodeProcess.start('all', { ...common, AUTH_REQUIRED: 'false', LOGS_AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) }),
  ]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([node, open].filter(Boolean).map((n) => n.stop('SIGKILL')));
});

describe('JWT app grants on /ws/logs', () => {
  it.each([
    ['an apps claim listing it', { apps: ['shop', 'blog'] }],
    ['an appId claim', { appId: 'shop' }],
    ['the wildcard', { apps: ['*'] }],
  ])('grants the app through %s', async (_what, claims) => {
    const { answer } = await tryAuth({ userId: 'user-1', appId: 'shop', token: token(claims) });
    // The original answer, plus the position on the app's channel a reconnect resumes from.
    expect(answer).toEqual({ type: 'auth_success', payload: { appId: 'shop', userId: 'user-1' }, epoch: expect.any(String), offset: expect.any(Number) });
  });

  it.each([
    ['no token (anonymous access is off)', undefined, /^Authentication required/],
    ['a token for other apps', token({ apps: ['blog'], appId: 'blog' }), /^Not authorized for appId "shop"$/],
    ['a token without grants', token({}), /^Not authorized for appId "shop"$/],
    ['an expired token', token({ apps: ['shop'], exp: Math.floor(Date.now() / 1000) - 60 }, {}), /^Authentication failed: token expired$/],
    ['garbage', 'not.a.jwt', /^Authentication failed$/],
    ['a token signed with another key', jwt.sign({ apps: ['shop'] }, 'x'.repeat(40), { expiresIn: 60, issuer: ISSUER }), /^Authentication failed$/],
    ['a token for another user', token({ apps: ['shop'], sub: 'user-2' }), /^userId does not match the token$/],
  ])('refuses %s with auth_error, and the connection gets none of the app’s logs', async (_what, jwtToken, message) => {
    const { client, answer } = await tryAuth({ userId: 'user-1', appId: 'shop', ...(jwtToken === undefined ? {} : { token: jwtToken }) });
    expect(answer.type).toBe('auth_error');
    expect((answer['payload'] as { message: string }).message).toMatch(message);
    // Still unauthenticated: other messages get auth_error too.
    const mark = client.frames.length;
    client.send({ type: 'request_history' });
    expect((await client.next(() => true, { from: mark })).type).toBe('auth_error');
  });

  it('admits the upgrade without a token even when AUTH_REQUIRED is set: the first message authenticates', async () => {
    const granted = await tryAuth({ userId: 'user-1', appId: 'shop', token: token({ apps: ['shop'] }) });
    const refused = await tryAuth({ userId: 'user-1', appId: 'shop' });
    expect(refused.answer.type).toBe('auth_error');
    expect((await post(node.url, '/logs', { appId: 'shop', level: 'info', message: 'for granted clients' }, {})).status).toBe(202);
    await waitFor(() => liveEntries(granted.client).some((e) => e.message === 'for granted clients'), { what: 'the entry' });
    expect(refused.client.frames.every((f) => f.frame.type === 'auth_error')).toBe(true);
  });

  it('accepts userId and appId alone when anonymous access is allowed, and still checks a token that is sent', async () => {
    expect((await tryAuth({ userId: 'anyone', appId: 'shop' }, open)).answer).toEqual({
      type: 'auth_success',
      payload: { appId: 'shop', userId: 'anyone' },
      epoch: expect.any(String),
      offset: expect.any(Number),
    });
    expect((await tryAuth({ userId: 'anyone', appId: 'shop', token: 'garbage' }, open)).answer.type).toBe('auth_error');
    expect((await tryAuth({ userId: 'user-1', appId: 'shop', token: token({ apps: ['blog'] }) }, open)).answer.type).toBe('auth_error');
  });
});

describe('who may clear an app’s history', () => {
  it('refuses clear to a token that only reads the app, and keeps the history', async () => {
    const reader = await appClient(node, 'perm', 'user-1', token({ apps: ['perm'] }));
    clients.push(reader);
    expect((await post(node.url, '/logs', { appId: 'perm', level: 'info', message: 'kept' }, {})).status).toBe(202);
    await waitFor(() => liveEntries(reader).length === 1, { what: 'the entry' });
    const mark = reader.frames.length;
    reader.send({ type: 'clear' });
    const answer = await reader.next((f) => f.type === 'error' || f.type === 'cleared', { from: mark, what: 'the answer to clear' });
    expect(answer).toEqual({
      type: 'error',
      message: 'Not authorized to clear appId "perm": the token needs the "logs:clear" permission',
      request: 'clear',
    });
    expect((await history(reader)).map((e) => e.message)).toEqual(['kept']);
    expect(reader.closed).toBeUndefined();
  });

  it.each([
    ['the scope claim', { scope: 'logs:read logs:clear' }],
    ['the permissions claim', { permissions: ['logs:clear'] }],
  ])('lets a token with logs:clear in %s clear it for every reader', async (_what, grant) => {
    const appId = `perm-${Object.keys(grant)[0] ?? ''}`;
    const reader = await appClient(node, appId, 'user-1', token({ apps: [appId] }));
    const writer = await appClient(node, appId, 'user-1', token({ apps: [appId], ...grant }));
    clients.push(reader, writer);
    expect((await post(node.url, '/logs', { appId, level: 'info', message: 'gone soon' }, {})).status).toBe(202);
    await waitFor(() => liveEntries(reader).length === 1, { what: 'the entry' });
    writer.send({ type: 'clear' });
    await reader.next((f) => f.type === 'cleared', { what: 'cleared on the reader' });
    expect(await history(reader)).toEqual([]);
  });
});

describe(`unauthenticated connections (LOGS_AUTH_TIMEOUT_MS=${AUTH_TIMEOUT_MS})`, () => {
  it('closes a connection that does not authenticate in time with 1008, and keeps an authenticated one', async () => {
    const silent = await logsClient(open);
    const member = await logsClient(open);
    clients.push(silent, member);
    const openedAt = Date.now();
    expect((await authenticate(member, { userId: 'u', appId: 'deadline' })).type).toBe('auth_success');
    const closed = await silent.waitClosed(AUTH_TIMEOUT_MS + 15_000);
    expect(closed).toEqual({ code: 1008, reason: 'authentication timeout' });
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 500);
    member.send({ type: 'ping' });
    await member.next((f) => f.type === 'pong', { what: 'pong after the deadline' });
    expect(member.closed).toBeUndefined();
  });
});

describe(`idle connections (IDLE_TIMEOUT_S=${IDLE_S})`, () => {
  it('closes a connection that sends nothing, and keeps one that keeps talking', async () => {
    const quiet = await logsClient(node);
    const talker = await logsClient(open);
    clients.push(quiet, talker);
    const openedAt = Date.now();
    expect((await authenticate(talker, { userId: 'u', appId: 'idle' })).type).toBe('auth_success');
    const pinging = setInterval(() => talker.send({ type: 'ping' }), 2_000);
    try {
      const closed = await quiet.waitClosed(IDLE_S * 1000 + 15_000);
      const after = Date.now() - openedAt;
      expect(closed).toEqual({ code: 1000, reason: 'idle timeout' });
      expect(after).toBeGreaterThanOrEqual(IDLE_S * 1000 - 500);
      // The talker has been open as long, and longer: its messages keep it alive.
      await sleep(Math.max(0, IDLE_S * 1000 + 2_000 - (Date.now() - openedAt)));
      expect(talker.closed).toBeUndefined();
      expect(talker.of('pong').length).toBeGreaterThanOrEqual(3);
    } finally {
      clearInterval(pinging);
    }
  });
});

describe('origins at the upgrade of every raw endpoint', () => {
  it.each(['/ws/logs', '/ws/availability', '/ws/analytics'])('refuses %s from an origin outside ALLOWED_ORIGINS with 403', async (path) => {
    const refused = await TestClient.refusal(node.wsUrl(path), { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toEqual({ error: 'origin not allowed' });
    const allowed = await TestClient.connect(open.wsUrl(path), { origin: ORIGIN });
    clients.push(allowed);
    expect(allowed.ws.readyState).toBe(allowed.ws.OPEN);
  });
});
