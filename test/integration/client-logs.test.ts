import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  AuthError,
  AvailabilityClient,
  LogsClient,
  RequestRejectedError,
  logStreamStore,
  type AvailabilityAlert,
  type Gap,
  type LogEntry,
} from '@switchboard/client';
import { channelKeys } from '@switchboard/engine';
import { logsChannel } from '@switchboard/protocol';
import { sleep, waitFor } from '../support/wait.js';
import { ClientStack, TEST_BACKOFF, token } from './client-helpers.js';
import { post } from './helpers.js';

/** @switchboard/client against real gateway and worker processes: /ws/logs and /ws/availability. */
let stack: ClientStack;
const closers: (() => void)[] = [];

function logs(appId: string, userId: string, options: Partial<ConstructorParameters<typeof LogsClient>[0]> = {}) {
  const client = new LogsClient({ url: stack.url, WebSocket, reconnect: TEST_BACKOFF, appId, userId, token: token({ sub: userId, apps: [appId] }), ...options });
  closers.push(() => client.close());
  const seen = { live: [] as LogEntry[], errors: [] as Error[], gaps: [] as Gap[], disconnects: 0, cleared: 0 };
  client.on('logs', (entries) => seen.live.push(...entries));
  client.on('error', (err) => seen.errors.push(err));
  client.on('gap', (gap) => seen.gaps.push(gap));
  client.on('disconnect', () => (seen.disconnects += 1));
  client.on('cleared', () => (seen.cleared += 1));
  return { client, seen };
}

const open = (client: { state: string }) => waitFor(() => client.state === 'open', { what: 'client open', timeoutMs: 30_000 });
const postLogs = async (body: unknown) => expect((await post(stack.url, '/logs', body)).status).toBe(202);

beforeAll(async () => {
  stack = await ClientStack.start({ AUTH_REQUIRED: 'false' });
});

afterAll(async () => {
  for (const close of closers) close();
  await stack?.stop();
});

describe('LogsClient', () => {
  it('authenticates and receives live entries of its own app only', async () => {
    const shop = logs('shop', 'u-shop');
    const blog = logs('blog', 'u-blog');
    const authenticated = new Promise((resolve) => shop.client.once('authenticated', resolve));
    await Promise.all([open(shop.client), open(blog.client)]);
    expect(await authenticated).toEqual({ appId: 'shop', userId: 'u-shop' });
    await postLogs([
      { appId: 'blog', level: 'info', message: 'blog post published' },
      { appId: 'shop', level: 'error', message: 'payment declined', metadata: { orderId: 'o-1' } },
    ]);
    await waitFor(() => shop.seen.live.length >= 1 && blog.seen.live.length >= 1, { what: 'both apps’ entries' });
    expect(shop.seen.live).toEqual([expect.objectContaining({ appId: 'shop', level: 'error', message: 'payment declined', metadata: { orderId: 'o-1' } })]);
    expect(blog.seen.live).toEqual([expect.objectContaining({ appId: 'blog', message: 'blog post published' })]);
    expect(shop.seen.errors).toEqual([]);
  });

  it('answers history, metrics and clear', async () => {
    const { client, seen } = logs('shop', 'u-shop');
    await open(client);
    const history = await waitFor(async () => {
      const entries = await client.requestHistory();
      return entries.some((e) => e.message === 'payment declined') ? entries : undefined;
    }, { what: 'the history' });
    expect(history.every((e) => e.appId === 'shop')).toBe(true);
    const metrics = await client.requestMetrics();
    expect(metrics.cpu.cores).toBeGreaterThan(0);
    // Reading the app does not let a token clear it: the refusal rejects at once, history stays.
    const rejected = await client.clear().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(rejected).toBeInstanceOf(RequestRejectedError);
    expect((rejected as Error).message).toMatch(/the token needs the "logs:clear" permission/);
    expect(seen.cleared).toBe(0);
    expect((await client.requestHistory()).length).toBeGreaterThan(0);
    // A token with the permission clears it for every reader.
    const admin = logs('shop', 'u-admin', { token: token({ sub: 'u-admin', apps: ['shop'], scope: 'logs:clear' }) });
    await open(admin.client);
    await admin.client.clear();
    await waitFor(() => seen.cleared === 1, { what: 'cleared on the reader' });
    await expect(client.requestHistory()).resolves.toEqual([]);
  });

  it('reports frames lost for good as a gap, and refetches the history', async () => {
    const { client, seen } = logs('gaps', 'u-gap');
    const histories: LogEntry[][] = [];
    client.on('history', (entries) => histories.push(entries));
    await open(client);
    await postLogs({ appId: 'gaps', level: 'info', message: 'first' });
    await waitFor(() => seen.live.length === 1, { what: 'the first entry' });
    // Frames that are in no history: the offset moves on by 3. The gateway cannot fill the hole
    // and skips it; the client sees the jump on its live connection and refetches the history.
    const redis = stack.redis.client();
    await redis.hincrby(channelKeys(logsChannel('gaps')).position, 'offset', 3);
    redis.disconnect();
    await postLogs({ appId: 'gaps', level: 'info', message: 'second' });
    const gap = await waitFor(() => seen.gaps[0], { what: 'the gap' });
    expect(gap).toMatchObject({ channel: 'logs:gaps', reason: 'offset_jump' });
    // The state is refetched: the history has the entry the client did not get live.
    await waitFor(() => histories.some((entries) => entries.some((e) => e.message === 'second')), { what: 'the refetched history' });
    await postLogs({ appId: 'gaps', level: 'info', message: 'third' });
    await waitFor(() => seen.live.some((e) => e.message === 'third'), { what: 'live entries after the gap' });
    expect(seen.gaps).toHaveLength(1);
  });

  it('gives up on a refused token with a clear error (no reconnect loop)', async () => {
    const wrongApp = logs('shop', 'u-x', { token: token({ sub: 'u-x', apps: ['blog'] }) });
    const expired = logs('shop', 'u-x', { token: token({ sub: 'u-x', apps: ['shop'] }, -60) });
    await waitFor(() => wrongApp.seen.errors.length > 0 && expired.seen.errors.length > 0, { what: 'both refusals' });
    expect(wrongApp.seen.errors[0]).toBeInstanceOf(AuthError);
    expect(wrongApp.seen.errors[0]?.message).toBe('Not authorized for appId "shop"');
    expect(expired.seen.errors[0]?.message).toBe('Authentication failed: token expired');
    await waitFor(() => wrongApp.client.state === 'closed' && expired.client.state === 'closed', { what: 'closed' });
    await sleep(1_500); // many backoff periods
    expect([wrongApp.seen.disconnects, expired.seen.disconnects]).toEqual([1, 1]);
  });

  it('feeds a bounded external store (the base of useLogStream), without React', async () => {
    const store = logStreamStore(() => new LogsClient({ url: stack.url, WebSocket, appId: 'store', userId: 'u-s', token: token({ sub: 'u-s', apps: ['store'] }) }), { limit: 2 });
    const stop = store.subscribe(() => undefined);
    closers.push(stop);
    await waitFor(() => store.getSnapshot().state === 'open', { what: 'the store’s connection' });
    await postLogs(['one', 'two', 'three'].map((message) => ({ appId: 'store', level: 'info', message })));
    await waitFor(() => store.getSnapshot().entries.map((e) => e.message).join() === 'two,three', { what: 'the newest two entries' });
    stop();
    expect(store.getSnapshot().state).toBe('open'); // the last snapshot stays; the connection is closed
  });
});

describe('AvailabilityClient', () => {
  it('greets, delivers alerts with offsets, and answers ping', async () => {
    const client = new AvailabilityClient({ url: stack.url, WebSocket, reconnect: TEST_BACKOFF });
    closers.push(() => client.close());
    const greeting = new Promise<{ clientId: string }>((resolve) => client.once('connection', resolve));
    const alerts: AvailabilityAlert[] = [];
    client.on('alert', (alert) => alerts.push(alert));
    await open(client);
    expect((await greeting).clientId).toMatch(/^[0-9a-f-]{36}$/);
    const body = { tourId: 't-1', tourTitle: 'Randonnée', availableSeats: 2, maxGroupSize: 12, threshold: 3 };
    expect((await post(stack.url, '/availability', body)).status).toBe(202);
    const alert = await waitFor(() => alerts[0], { what: 'the alert' });
    expect(alert).toMatchObject({ data: body, offset: expect.any(Number), id: expect.any(String) });
    expect((await client.ping()).rttMs).toBeGreaterThanOrEqual(0);
  });
});
