import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSDOM } from 'jsdom';
import { createElement as h, type ReactNode } from 'react';
import WebSocket from 'ws';
import { AnalyticsClient, ErrorMonitorClient, presenceStore, type PresenceDiff } from '@switchboard/client';
import { usePresence, useOccupancy } from '@switchboard/client/react';
import { waitFor } from '../support/wait.js';
import { ClientStack, TEST_BACKOFF, token } from './client-helpers.js';

// A DOM for react-dom (see client-react.test.ts).
const dom = new JSDOM('<!doctype html><html><body></body></html>');
Object.assign(globalThis, { window: dom.window, document: dom.window.document });
Object.defineProperty(globalThis, 'navigator', { value: dom.window.navigator, configurable: true });
const { createRoot } = await import('react-dom/client');

/** The SDK's presence (`presence()`, `occupancy()`, `onPresence`, the store and the hooks) against a real gateway. */
let stack: ClientStack;
const closers: (() => void)[] = [];

function analytics(sub?: string): AnalyticsClient {
  const client = new AnalyticsClient({ url: stack.url, WebSocket, reconnect: TEST_BACKOFF, ...(sub === undefined ? {} : { token: token({ sub }) }) });
  closers.push(() => client.close());
  return client;
}

beforeAll(async () => {
  stack = await ClientStack.start({ PRESENCE_GRACE_S: '1' });
});

afterAll(async () => {
  for (const close of closers) close();
  await stack?.stop();
});

describe('SDK presence', () => {
  it('raw client: presence(), occupancy(), onPresence diffs, and the presence store', async () => {
    const watcher = analytics('watcher');
    await waitFor(() => watcher.state === 'open', { what: 'watcher open' });
    const diffs: PresenceDiff[] = [];
    const off = watcher.onPresence((diff) => diffs.push(diff));
    const store = presenceStore(watcher);
    const unsubscribe = store.subscribe(() => undefined);
    await waitFor(() => store.getSnapshot().loaded, { what: 'store loaded' });

    const alice = analytics('alice');
    await waitFor(() => diffs.some((d) => d.joined.some((m) => m.userId === 'alice')), { what: 'alice joined' });
    await waitFor(() => store.getSnapshot().members.some((m) => m.userId === 'alice'), { what: 'store has alice' });
    const snapshot = await watcher.presence();
    expect(snapshot.channel).toBe('analytics');
    expect(snapshot.members.map((m) => m.userId).sort()).toEqual(['alice', 'watcher']);
    expect(await watcher.occupancy()).toEqual({ connections: 2, users: 2 });

    alice.close();
    await waitFor(() => diffs.some((d) => d.left.some((m) => m.userId === 'alice')), { what: 'alice left', timeoutMs: 15_000 });
    await waitFor(() => store.getSnapshot().occupancy.connections === 1, { what: 'store occupancy back to 1', timeoutMs: 15_000 });
    expect(store.getSnapshot().members.map((m) => m.userId)).toEqual(['watcher']);
    unsubscribe();
    off();
  });

  it('Socket.IO client: presence() and onPresence on the error feed', async () => {
    const watcher = new ErrorMonitorClient({ url: stack.url, reconnect: TEST_BACKOFF, socketOptions: { transports: ['websocket'] } });
    closers.push(() => watcher.close());
    await waitFor(() => watcher.state === 'open', { what: 'socket.io open' });
    const diffs: PresenceDiff[] = [];
    watcher.onPresence((diff) => diffs.push(diff));
    const other = new ErrorMonitorClient({ url: stack.url, reconnect: TEST_BACKOFF, token: token({ sub: 'bob' }), socketOptions: { transports: ['websocket'] } });
    closers.push(() => other.close());
    await waitFor(() => diffs.some((d) => d.channel === 'errors' && d.joined.some((m) => m.userId === 'bob')), { what: 'bob joined' });
    const snapshot = await watcher.presence();
    expect(snapshot.members.some((m) => m.userId === 'bob')).toBe(true);
    expect((await watcher.occupancy()).connections).toBeGreaterThanOrEqual(2);
    await expect(watcher.presence('analytics')).rejects.toThrow(/channel/);
  });

  it('React: usePresence and useOccupancy render who is watching', async () => {
    const client = analytics('reader');
    function Watching(): ReactNode {
      const { members } = usePresence(client);
      const { users } = useOccupancy(client);
      return h('p', { id: 'watching' }, `${users}: ${members.map((m) => m.userId ?? 'anonymous').join(',')}`);
    }
    const container = document.createElement('div');
    document.body.append(container);
    const root = createRoot(container);
    root.render(h(Watching));
    closers.push(() => root.unmount());
    await waitFor(() => container.querySelector('#watching')?.textContent?.includes('reader') === true, { what: 'reader rendered', timeoutMs: 15_000 });
    analytics('second-reader');
    await waitFor(() => container.querySelector('#watching')?.textContent?.includes('second-reader') === true, { what: 'second reader rendered', timeoutMs: 15_000 });
  });
});
