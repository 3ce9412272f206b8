import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient, AuthError, type ConnectionState, type Gap, type ReceivedAnalyticsEvent, type ResumeOutcome } from '@switchboard/client';
import { channelKeys } from '@switchboard/engine';
import { CHANNELS } from '@switchboard/protocol';
import { metricValue } from '../support/node-process.js';
import { sleep, waitFor } from '../support/wait.js';
import { ClientStack, TEST_BACKOFF, token } from './client-helpers.js';
import { post } from './helpers.js';

/** @switchboard/client against real gateway and worker processes: /ws/analytics. */
let stack: ClientStack;
const clients: AnalyticsClient[] = [];

function connect(options: Partial<ConstructorParameters<typeof AnalyticsClient>[0]> = {}) {
  const client = new AnalyticsClient({ url: stack.url, WebSocket, reconnect: TEST_BACKOFF, ...options });
  clients.push(client);
  const seen = { events: [] as ReceivedAnalyticsEvent[], gaps: [] as Gap[], errors: [] as Error[], states: [] as ConnectionState[], closes: [] as number[], subscribed: 0 };
  client.on('event', (e) => seen.events.push(e));
  client.on('gap', (g) => seen.gaps.push(g));
  client.on('error', (e) => seen.errors.push(e));
  client.on('state', (s) => seen.states.push(s));
  client.on('disconnect', ({ code }) => seen.closes.push(code));
  client.on('subscribed', () => (seen.subscribed += 1));
  return { client, seen };
}

const open = (client: AnalyticsClient, what = 'client open') => waitFor(() => client.state === 'open', { what, timeoutMs: 30_000 });
const event = (type: string, visitor: string) => post(stack.url, '/events', { type, visitor_id: visitor }).then((r) => expect(r.status).toBe(202));
const got = (events: ReceivedAnalyticsEvent[], visitor: string) => events.find((e) => e.visitor_id === visitor);

beforeAll(async () => {
  stack = await ClientStack.start({ HEARTBEAT_INTERVAL_MS: '1000' });
});

afterAll(async () => {
  for (const client of clients) client.close();
  await stack?.stop();
});

describe('AnalyticsClient', () => {
  it('connects, gets the figures, receives a posted event, answers ping and refresh', async () => {
    const { client, seen } = connect();
    const initial = new Promise((resolve) => client.once('initial_stats', resolve));
    await open(client);
    expect(await initial).toMatchObject({ total_events: expect.any(Number) });
    await event('page_view', 'sdk-a1');
    const received = await waitFor(() => got(seen.events, 'sdk-a1'), { what: 'the posted event' });
    expect(received).toMatchObject({ type: 'page_view', id: expect.any(String), offset: expect.any(Number), data: {} });
    const pong = await client.ping();
    expect(pong.rttMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(pong.serverTime)).not.toBeNaN();
    const stats = await waitFor(async () => {
      const s = await client.refreshStats();
      return s.total_events >= 1 ? s : undefined;
    }, { what: 'fresh figures' });
    expect(stats.unique_today).toBeGreaterThanOrEqual(1);
    expect(client.stats).toBeDefined();
    expect(seen.errors).toEqual([]);
  });

  it('honours the subscribe filter', async () => {
    const all = connect();
    const letters = connect();
    await Promise.all([open(all.client), open(letters.client)]);
    await expect(letters.client.subscribe(['letter_generated'])).resolves.toEqual(['letter_generated']);
    await event('page_view', 'sdk-f-pv');
    await waitFor(() => got(all.seen.events, 'sdk-f-pv'), { what: 'the page view on the unfiltered client' });
    await event('letter_generated', 'sdk-f-letter');
    await waitFor(() => got(letters.seen.events, 'sdk-f-letter'), { what: 'the letter on the filtered client' });
    // Frames leave the gateway in order: the page view came first, so it would have arrived by now.
    expect(got(letters.seen.events, 'sdk-f-pv')).toBeUndefined();
    expect(letters.seen.events.every((e) => e.type === 'letter_generated')).toBe(true);
  });

  it('reports frames lost for good as a gap, and goes on with fresh figures', async () => {
    const { client, seen } = connect();
    const resumed: ResumeOutcome[] = [];
    client.on('resumed', (r) => resumed.push(r));
    await open(client);
    await event('page_view', 'sdk-g1');
    let refreshed = 0;
    client.on('initial_stats', () => (refreshed += 1));
    const before = await waitFor(() => got(seen.events, 'sdk-g1'), { what: 'the first event' });
    // Frames that are in no history: the channel's offset moves on by 5. The gateway cannot fill
    // the hole and skips it; the client sees the jump on its live connection and asks for fresh
    // figures.
    const redis = stack.redis.client();
    await redis.hincrby(channelKeys(CHANNELS.analytics).position, 'offset', 5);
    redis.disconnect();
    await event('page_view', 'sdk-g2');
    const gap = await waitFor(() => seen.gaps.find((g) => g.expected > (before.offset ?? Infinity)), { what: 'the gap event' });
    expect(gap).toMatchObject({ channel: 'analytics', reason: 'offset_jump' });
    await waitFor(() => refreshed > 0, { what: 'fresh figures after the gap' });
    expect(resumed).toEqual([]); // the connection stayed up: nothing to resume
    await event('page_view', 'sdk-g3');
    await waitFor(() => got(seen.events, 'sdk-g3'), { what: 'live events after the gap' });
    expect(seen.gaps).toHaveLength(1);
  });

  it('reconnects after the gateway is killed and restarted, with its subscription restored', async () => {
    const letters = connect();
    const all = connect();
    await Promise.all([open(letters.client), open(all.client)]);
    await letters.client.subscribe(['letter_generated']);
    await stack.stopGateway('SIGKILL');
    await waitFor(() => letters.client.state === 'reconnecting', { what: 'reconnecting' });
    await stack.startGateway();
    await Promise.all([open(letters.client, 'filtered client back'), open(all.client, 'unfiltered client back')]);
    await waitFor(() => letters.seen.subscribed >= 2, { what: 'the subscription confirmed again' });
    expect(letters.seen.states).toEqual(['open', 'reconnecting', 'open']);

    await event('page_view', 'sdk-r-pv');
    await waitFor(() => got(all.seen.events, 'sdk-r-pv'), { what: 'the page view after the restart' });
    await event('letter_generated', 'sdk-r-letter');
    await waitFor(() => got(letters.seen.events, 'sdk-r-letter'), { what: 'the letter after the restart' });
    expect(got(letters.seen.events, 'sdk-r-pv')).toBeUndefined();
    // The reconnect resumed where the clients left off: nothing was lost, so no gap.
    expect(all.seen.gaps).toEqual([]);
  });

  it('reconnects after a graceful drain (close 1012)', async () => {
    const { client, seen } = connect();
    await open(client);
    await stack.stopGateway('SIGTERM');
    await waitFor(() => seen.closes.includes(1012), { what: 'the 1012 close' });
    await stack.startGateway();
    await open(client, 'open after the drain');
    await event('page_view', 'sdk-d1');
    await waitFor(() => got(seen.events, 'sdk-d1'), { what: 'an event after the drain' });
  });

  it('stops on an expired or bad token with a clear error, without a reconnect storm', async () => {
    const refusedBefore = metricValue(await stack.gateway.metrics(), 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="auth"}') ?? 0;
    const expired = connect({ token: token({ sub: 'u1' }, -60) });
    const garbage = connect({ token: 'not-a-jwt' });
    await waitFor(() => expired.client.state === 'closed' && garbage.client.state === 'closed', { what: 'both refused' });
    for (const { seen } of [expired, garbage]) {
      expect(seen.errors[0]).toBeInstanceOf(AuthError);
      expect(seen.errors[0]?.message).toMatch(/Authentication failed/);
    }
    // An observation window of many backoff periods: still one attempt each.
    await sleep(2_000);
    const refusedAfter = metricValue(await stack.gateway.metrics(), 'switchboard_ws_upgrades_refused_total{endpoint="analytics",reason="auth"}');
    expect(refusedAfter).toBe(refusedBefore + 2);
    expect(expired.seen.states).toEqual(['closed']);

    // With getToken(), a refused token is followed by the fresh one it returns.
    const tokens = [token({ sub: 'u1' }, -60), token({ sub: 'u1' })];
    const refreshed = connect({ getToken: () => tokens.shift() });
    await open(refreshed.client, 'open with the refreshed token');
    expect(refreshed.seen.errors.map((e) => e.name)).toEqual(['AuthError']);
  });
});
