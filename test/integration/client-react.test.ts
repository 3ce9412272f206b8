import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSDOM } from 'jsdom';
import { createElement as h, type ReactNode } from 'react';
import type { Root } from 'react-dom/client';
import WebSocket from 'ws';
import { Switchboard } from '@switchboard/client';
import { SwitchboardProvider, useAnalyticsStats, useConnectionState, useErrorFeed, useJobProgress, useLogStream } from '@switchboard/client/react';
import { waitFor } from '../support/wait.js';
import { ClientStack, TEST_BACKOFF, token } from './client-helpers.js';
import { post } from './helpers.js';

// A DOM for react-dom, set up by hand rather than with vitest's jsdom environment: that one
// replaces Node's globals (URL, fetch…) that the process harness relies on. Only `window`,
// `document` and `navigator` are added, before react-dom is loaded (it checks for a DOM when it loads).
const dom = new JSDOM('<!doctype html><html><body></body></html>');
Object.assign(globalThis, { window: dom.window, document: dom.window.document });
// Node 21+ has its own read-only `navigator`: define rather than assign.
Object.defineProperty(globalThis, 'navigator', { value: dom.window.navigator, configurable: true });
const { createRoot } = await import('react-dom/client');

/**
 * The React hooks of @switchboard/client/react, rendered by react-dom in a DOM (jsdom), fed by
 * real gateway and worker processes.
 */
let stack: ClientStack;
let switchboard: Switchboard;
let root: Root;
let container: HTMLElement;

function Stats(): ReactNode {
  const stats = useAnalyticsStats();
  const state = useConnectionState();
  return h('p', { id: 'stats' }, `${state}: ${stats === undefined ? 'no figures' : `${stats.total_events} events`}`);
}

function Logs({ appId }: { appId: string }): ReactNode {
  const { entries, state } = useLogStream(appId, { limit: 2, userId: 'u-react' });
  return h('ul', { id: 'logs', 'data-state': state }, entries.map((e) => h('li', { key: e.id }, e.message)));
}

function Job({ jobId }: { jobId: string }): ReactNode {
  const { status, progress } = useJobProgress(jobId);
  return h('p', { id: 'job' }, `${status} ${progress === undefined ? '-' : `${progress.currentPage}/${progress.totalPages}`}`);
}

function Errors(): ReactNode {
  const { records } = useErrorFeed({ limit: 3 });
  return h('ol', { id: 'errors' }, records.map((r) => h('li', { key: r.id }, `${r.service}: ${r.message ?? ''}`)));
}

const text = (id: string) => container.querySelector(`#${id}`)?.textContent ?? '';

beforeAll(async () => {
  stack = await ClientStack.start({ HEARTBEAT_INTERVAL_MS: '1000' });
  // getToken: the same token grants the logs app and identifies the job owner.
  switchboard = new Switchboard({ url: stack.url, WebSocket, reconnect: TEST_BACKOFF, getToken: () => token({ sub: 'u-react', apps: ['react-app'] }) });
  container = document.createElement('div');
  document.body.append(container);
  root = createRoot(container);
  root.render(h(SwitchboardProvider, { client: switchboard }, h(Stats), h(Logs, { appId: 'react-app' }), h(Job, { jobId: 'react-job' }), h(Errors)));
});

afterAll(async () => {
  root?.unmount();
  switchboard?.close();
  await stack?.stop();
});

describe('React hooks against a real gateway', () => {
  it('useAnalyticsStats and useConnectionState render live figures', async () => {
    await waitFor(() => /^open: \d+ events$/.test(text('stats')), { what: 'figures rendered' });
    expect((await post(stack.url, '/events', { type: 'page_view', visitor_id: 'react-1' })).status).toBe(202);
    await waitFor(() => /^open: [1-9]\d* events$/.test(text('stats')), { what: 'the heartbeat counting the event' });
  });

  it('useLogStream renders the newest entries of its app', async () => {
    await waitFor(() => container.querySelector('#logs')?.getAttribute('data-state') === 'open', { what: 'the log stream open' });
    const body = ['first', 'second', 'third'].map((message) => ({ appId: 'react-app', level: 'info', message }));
    expect((await post(stack.url, '/logs', [...body, { appId: 'other-app', level: 'info', message: 'elsewhere' }])).status).toBe(202);
    await waitFor(() => text('logs') === 'secondthird', { what: 'the two newest entries rendered' });
  });

  it('useJobProgress and useErrorFeed render Socket.IO events', async () => {
    await waitFor(() => switchboard.jobs.state === 'open' && switchboard.errors.state === 'open', { what: 'Socket.IO connected' });
    await waitFor(
      async () => {
        // The hook's subscribe may still be on its way: post until the progress shows.
        await post(stack.url, '/jobs/react-job/events', { type: 'job_progress', data: { itemsScraped: 5, pagesScraped: 2, currentPage: 2, totalPages: 8, elapsedTime: 900 } });
        return waitFor(() => text('job') === 'running 2/8', { timeoutMs: 2_000 });
      },
      { what: 'job progress rendered', timeoutMs: 30_000 },
    );
    expect((await post(stack.url, '/report', { service: 'web', level: 'warn', error: { message: 'slow render' } })).status).toBe(202);
    await waitFor(() => text('errors') === 'web: slow render', { what: 'the error rendered' });
  });
});
