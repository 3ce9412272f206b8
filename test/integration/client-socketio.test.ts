import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthError,
  ErrorMonitorClient,
  JobMonitorClient,
  RequestRejectedError,
  errorFeedStore,
  jobProgressStore,
  type ErrorEventRecord,
  type ReceivedJobEvent,
} from '@switchboard/client';
import { sleep, waitFor } from '../support/wait.js';
import { ClientStack, TEST_BACKOFF, token } from './client-helpers.js';
import { post } from './helpers.js';

/** @switchboard/client against real gateway and worker processes: the Socket.IO products. */
let stack: ClientStack;
const closers: (() => void)[] = [];

const options = () => ({ url: stack.url, reconnect: TEST_BACKOFF, requestTimeoutMs: 20_000 });

function errorMonitor() {
  const client = new ErrorMonitorClient(options());
  closers.push(() => client.close());
  const seen = { all: [] as ErrorEventRecord[], service: [] as ErrorEventRecord[], errors: [] as Error[] };
  client.on('error:new', (r) => seen.all.push(r));
  client.on('error:service', (r) => seen.service.push(r));
  client.on('error', (e) => seen.errors.push(e));
  return { client, seen };
}

function jobMonitor(sub: string | undefined, extra: Partial<ConstructorParameters<typeof JobMonitorClient>[0]> = {}) {
  const client = new JobMonitorClient({ ...options(), ...(sub !== undefined ? { token: token({ sub }) } : {}), ...extra });
  closers.push(() => client.close());
  const seen = { events: [] as ReceivedJobEvent[], errors: [] as Error[], opens: 0 };
  client.on('event', (e) => seen.events.push(e));
  client.on('error', (e) => seen.errors.push(e));
  client.on('open', () => (seen.opens += 1));
  return { client, seen };
}

const open = (client: { state: string }, what = 'connected') => waitFor(() => client.state === 'open', { what, timeoutMs: 30_000 });
const progress = (page: number) => ({ itemsScraped: page * 10, pagesScraped: page, currentPage: page, totalPages: 10, elapsedTime: page * 100 });

beforeAll(async () => {
  stack = await ClientStack.start();
});

afterAll(async () => {
  for (const close of closers) close();
  await stack?.stop();
});

describe('ErrorMonitorClient', () => {
  it('receives the feed and a subscribed service’s room; the store keeps the newest first', async () => {
    const { client, seen } = errorMonitor();
    const feed = errorFeedStore(client, { service: 'billing', limit: 5 });
    closers.push(feed.subscribe(() => undefined));
    await open(client);
    await client.subscribeService('billing');
    for (const [service, message] of [['search', 'slow query'], ['billing', 'card declined']]) {
      const res = await post(stack.url, '/report', { service, level: 'error', error: { message } });
      expect(res.status).toBe(202);
    }
    await waitFor(() => seen.all.length === 2 && seen.service.length === 1, { what: 'the feed and the room' });
    expect(seen.service[0]).toMatchObject({ service: 'billing', message: 'card declined', stack: null, level: 'error' });
    await waitFor(() => feed.getSnapshot().records.length === 1, { what: 'the store’s record' });
    expect(feed.getSnapshot()).toEqual({ records: [expect.objectContaining({ service: 'billing' })], error: undefined, missed: false });
    expect(seen.errors).toEqual([]);
  });

  it('rejects with the server’s reason when the acknowledgement is {ok:false}', async () => {
    const { client } = errorMonitor();
    const failure = client.subscribeLevel('not a level!');
    await expect(failure).rejects.toBeInstanceOf(RequestRejectedError);
    await expect(failure).rejects.toThrow(/^subscribe:level rejected by the server: level: expected letters, digits/);
  });
});

describe('JobMonitorClient', () => {
  it('follows a job’s progress, typed, and through the store', async () => {
    const { client, seen } = jobMonitor('alice');
    await open(client);
    await client.subscribe('job-1');
    const store = jobProgressStore(client, 'job-1');
    closers.push(store.subscribe(() => undefined));
    expect((await post(stack.url, '/jobs/job-1/events', { type: 'job_progress', ownerId: 'alice', data: progress(3) })).status).toBe(202);
    const event = await waitFor(() => seen.events.find((e) => e.type === 'job_progress'), { what: 'the progress event' });
    if (event.type !== 'job_progress') throw new Error('unreachable');
    expect(event.data.currentPage).toBe(3);
    expect(event.jobId).toBe('job-1');
    await waitFor(() => store.getSnapshot().progress?.currentPage === 3, { what: 'the store’s progress' });
    expect(store.getSnapshot().status).toBe('running');
  });

  it('rejects anonymous and foreign subscriptions with the server’s reason', async () => {
    const anonymous = jobMonitor(undefined);
    await expect(anonymous.client.subscribe('job-1')).rejects.toThrow('subscribe rejected by the server: Authentication required');
    const bob = jobMonitor('bob');
    await expect(bob.client.subscribe('job-1')).rejects.toThrow(/Forbidden/);
  });

  it('re-joins its rooms after the gateway is killed and restarted', async () => {
    const { client, seen } = jobMonitor('alice');
    await open(client);
    await client.subscribe('job-2');
    await stack.stopGateway('SIGKILL');
    await waitFor(() => client.state === 'reconnecting', { what: 'reconnecting' });
    await stack.startGateway();
    await waitFor(() => seen.opens === 2, { what: 'reconnected', timeoutMs: 30_000 });
    // The re-subscribe is in flight right after the reconnect: post until an event comes through.
    await waitFor(
      async () => {
        await post(stack.url, '/jobs/job-2/events', { type: 'job_completed', data: {} });
        return waitFor(() => seen.events.find((e) => e.type === 'job_completed'), { timeoutMs: 2_000 });
      },
      { what: 'an event after the restart', timeoutMs: 30_000 },
    );
    expect(seen.errors).toEqual([]);
  });

  it('refuses a bad token with a clear error and does not retry it', async () => {
    const { client, seen } = jobMonitor(undefined, { token: 'not-a-jwt' });
    await waitFor(() => seen.errors.length > 0 && client.state === 'closed', { what: 'the refusal' });
    expect(seen.errors[0]).toBeInstanceOf(AuthError);
    expect(seen.errors[0]?.message).toBe('Authentication failed');
    await sleep(1_500);
    expect(seen.errors).toHaveLength(1);

    const tokens = ['not-a-jwt', token({ sub: 'carol' })];
    const refreshed = jobMonitor(undefined, { getToken: () => tokens.shift() });
    await open(refreshed.client, 'connected with the fresh token');
    await expect(refreshed.client.subscribe('job-3')).resolves.toBeUndefined();
  });
});
