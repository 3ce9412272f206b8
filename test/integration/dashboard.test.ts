import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient } from '@switchboard/client';
import { launchChromium, openPage } from '../support/browser.js';
import { NodeProcess } from '../support/node-process.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';
import { appClient, history } from './logs-helpers.js';

/**
 * The dashboard page in headless Chromium (docs/architecture.md, docs/testing.md), against real processes:
 * the all role on the in-memory engine (anonymous clients allowed), and a gateway and a worker on
 * a real redis-server with AUTH_REQUIRED=true. Everything the page shows is produced through the
 * real ingest routes.
 */
const SECRET = 'dashboard-test-secret-0123456789abcdef';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const XSS_IMG = '<img src=x onerror="window.__xss=(window.__xss||0)+1">';
const XSS_SCRIPT = '<script>window.__xss=(window.__xss||0)+1</script>';
/** DOM waits: the page, Chromium and the processes share two busy cores with other test runs. */
const DOM_WAIT = { timeoutMs: 45_000, intervalMs: 100 };

let browser: Browser;
const contexts: BrowserContext[] = [];
const nodes: NodeProcess[] = [];
let redis: RedisServer | undefined;

const common = { LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '500', JWT_SECRET: SECRET, INGEST_API_KEYS: PRODUCER_KEY };

async function start(role: 'all' | 'gateway' | 'worker', env: Record<string, string>): Promise<NodeProcess> {
  const node = await NodeProcess.start(role, env);
  nodes.push(node);
  return node;
}

async function dashboard(node: NodeProcess, fragment = ''): Promise<{ page: Page; problems: string[] }> {
  const { context, page, problems } = await openPage(browser);
  contexts.push(context);
  await page.goto(`${node.url}/${fragment}`, { timeout: 60_000 });
  return { page, problems };
}

const text = async (page: Page, selector: string): Promise<string> => (await page.textContent(selector)) ?? '';

/** Waits until the text of `selector` satisfies `ok`; the failure names the last text seen. */
async function waitText(page: Page, selector: string, ok: (t: string) => boolean, what: string): Promise<string> {
  let last = '';
  try {
    return await waitFor(
      async () => {
        last = await text(page, selector);
        return ok(last) ? last : undefined;
      },
      { ...DOM_WAIT, what },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; ${selector} showed ${JSON.stringify(last.slice(0, 500))}`);
  }
}

async function accepted(baseUrl: string, path: string, body: unknown): Promise<void> {
  const res = await post(baseUrl, path, body);
  expect(res.status, JSON.stringify(res.json)).toBe(202);
}

/** A raw GET whose path is sent exactly as written (fetch would normalise `..`). */
function rawGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close().catch(() => undefined);
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

describe('dashboard on the all role (in-memory engine, anonymous clients allowed)', () => {
  let node: NodeProcess;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    node = await start('all', common);
    ({ page, problems } = await dashboard(node));
  });

  it('serves the page and its assets from a fixed list, with a strict CSP, and nothing else', async () => {
    const index = await rawGet(node.port, '/');
    expect(index.status).toBe(200);
    expect(index.type).toBe('text/html; charset=utf-8');
    const csp = (await fetch(`${node.url}/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect((await rawGet(node.port, '/dashboard.js')).type).toBe('text/javascript; charset=utf-8');
    expect((await rawGet(node.port, '/dashboard.css')).type).toBe('text/css; charset=utf-8');
    const client = await rawGet(node.port, '/socket.io/socket.io.min.js');
    expect(client.status).toBe(200);
    expect(client.type).toMatch(/^application\/javascript/);
    for (const path of ['/../package.json', '/dashboard.js/../../package.json', '/%2e%2e/package.json', '/index.html', '/public/index.html', '/socket.io/../package.json', '/socket.io/%2e%2e/package.json']) {
      const res = await rawGet(node.port, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain('"name"');
    }
  });

  it('connects every panel and shows statistics and events as they are ingested', async () => {
    await waitText(page, '#analytics-state', (t) => t === 'live', 'analytics live');
    await waitText(page, '#sio-state', (t) => t === 'live', 'socket.io live');
    expect(await page.isHidden('#auth-banner')).toBe(true);

    await accepted(node.url, '/events', { type: 'page_view', visitor_id: 'visitor-a', data: { path: '/pricing' } });
    await accepted(node.url, '/events', { type: 'page_view', visitor_id: 'visitor-b', data: { path: '/' } });
    await accepted(node.url, '/events', { type: 'letter_generated', visitor_id: 'visitor-c' });

    await waitText(page, '#feed', (t) => t.includes('visitor-a') && t.includes('visitor-b') && t.includes('letter_generated'), 'events in the feed');
    // the figures arrive with the next heartbeat (every 500 ms here)
    await waitText(page, '#total_events', (t) => t === '3', 'total_events 3');
    expect(await text(page, '#unique_today')).toBe('3');
    expect(await text(page, '#current_visitors')).toBe('3');
    expect(await text(page, '#letters_today')).toBe('1');
    await waitText(page, '#heartbeat', (t) => t.startsWith('heartbeat '), 'a heartbeat');
  });

  it('shows a reported error in the error feed, with its service, level, route and stack', async () => {
    await accepted(node.url, '/report', {
      service: 'billing',
      level: 'error',
      path: '/pay',
      method: 'POST',
      error: { message: 'card declined', stack: 'Error: card declined\n    at pay.js:10:5' },
      metadata: { orderId: 1234 },
    });
    const first = await waitText(page, '#errors li:first-child', (t) => t.includes('card declined'), 'the error in the feed');
    expect(first).toContain('billing');
    expect(first).toContain('POST /pay');
    expect(await text(page, '#errors li:first-child .level')).toBe('error');
    expect(await text(page, '#errors li:first-child pre')).toContain('at pay.js:10:5');
    expect(await text(page, '#error-count')).toBe('1');
  });

  it("shows the chosen app's history and live logs, and never another app's", async () => {
    await accepted(node.url, '/logs', [
      { appId: 'shop', level: 'info', message: 'shop history one' },
      { appId: 'shop', level: 'warn', message: 'shop history two' },
      { appId: 'blog', level: 'info', message: 'blog history line' },
    ]);
    // wait until the worker stored them, so the page gets them as history
    const probe = await appClient(node, 'shop');
    await waitFor(async () => (await history(probe)).length === 2, { ...DOM_WAIT, what: 'shop history stored' });
    probe.close();

    await page.fill('#log-app', 'shop');
    await page.click('#logs-form button[type=submit]');
    await waitText(page, '#logs-state', (t) => t === 'live · shop', 'logs live');
    await waitText(page, '#logs', (t) => t.includes('shop history one') && t.includes('shop history two'), 'shop history');
    expect(await page.locator('#logs li.history').count()).toBe(2);
    expect(await text(page, '#logs li:first-child')).toContain('shop history two'); // newest on top

    // another app's line first, then ours: once ours is shown, the other had its chance
    await accepted(node.url, '/logs', { appId: 'blog', level: 'error', message: 'blog live line' });
    await accepted(node.url, '/logs', { appId: 'shop', level: 'error', message: 'shop live line', metadata: { orderId: 7 } });
    await waitText(page, '#logs li:first-child', (t) => t.includes('shop live line'), 'shop live log');
    expect(await text(page, '#logs li:first-child .level')).toBe('error');
    const all = await text(page, '#logs');
    expect(all).not.toContain('blog');
    expect(await page.locator('#logs li').count()).toBe(3);
  });

  it('renders producer-supplied markup as text and never runs it', async () => {
    await accepted(node.url, '/report', { service: 'xss', level: 'fatal', error: { message: `${XSS_IMG} ${XSS_SCRIPT}`, stack: XSS_IMG } });
    await accepted(node.url, '/logs', { appId: 'shop', level: 'info', message: `log ${XSS_IMG}`, metadata: { html: XSS_SCRIPT } });
    await accepted(node.url, '/events', { type: 'page_view', visitor_id: XSS_IMG, data: { path: XSS_SCRIPT } });

    await waitText(page, '#errors li:first-child .msg', (t) => t === `${XSS_IMG} ${XSS_SCRIPT}`, 'the error message, as text');
    await waitText(page, '#logs li:first-child .msg', (t) => t === `log ${XSS_IMG}`, 'the log message, as text');
    await waitText(page, '#feed', (t) => t.includes(XSS_IMG), 'the event, as text');
    expect(await page.locator('main img, main script').count()).toBe(0);
    // a control image that fails the same way: once its error event fired, an injected one's would have too
    expect(await page.evaluate(`new Promise((resolve) => { const img = new Image(); img.onerror = () => resolve('failed'); img.src = 'data:,'; })`)).toBe('failed');
    expect(await page.evaluate('typeof window.__xss')).toBe('undefined');
  });

  it('asks for a token when following a job anonymously', async () => {
    await page.fill('#job-id', 'job-anon');
    await page.click('#job-form button[type=submit]');
    await waitText(page, '[data-job-id="job-anon"] .job-note', (t) => t === 'Authentication required', 'the job refusal');
    expect(await text(page, '[data-job-id="job-anon"] .job-status')).toBe('refused');
  });

  it('had no script errors, CSP violations or dialogs', () => {
    expect(problems).toEqual([]);
  });
});

describe('dashboard on a gateway and a worker on Redis with AUTH_REQUIRED=true', () => {
  let gateway: NodeProcess;
  let env: Record<string, string>;
  const token = jwt.sign({ sub: 'ops', apps: ['*'] }, SECRET, { algorithm: 'HS256', expiresIn: 600 });

  beforeAll(async () => {
    redis = await RedisServer.start();
    env = { ...common, REDIS_URL: redis.url, AUTH_REQUIRED: 'true' };
    [gateway] = await Promise.all([start('gateway', env), start('worker', env)]);
  });

  it('without a token, says clearly that one is needed', async () => {
    const { page } = await dashboard(gateway);
    const banner = await waitText(page, '#auth-banner', (t) => t.startsWith('Authentication required'), 'the auth banner');
    expect(banner).toContain('#token=');
    expect(await page.isVisible('#auth-banner')).toBe(true);
    expect(await text(page, '#sio-state')).toBe('Authentication required');
    await waitText(page, '#analytics-state', (t) => t.startsWith('cannot connect'), 'analytics refused');

    await page.fill('#log-app', 'shop');
    await page.click('#logs-form button[type=submit]');
    await waitText(page, '#logs-state', (t) => t.startsWith('Authentication required'), 'logs refused');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-auth-required.png` });
  });

  it('with #token= connects everything and follows job progress, errors and logs across processes', async () => {
    const { page, problems } = await dashboard(gateway, `#token=${token}`);
    await waitText(page, '#analytics-state', (t) => t === 'live', 'analytics live');
    await waitText(page, '#sio-state', (t) => t === 'live', 'socket.io live');
    expect(await page.isHidden('#auth-banner')).toBe(true);
    // the token left the address bar (kept for this tab only)
    expect(await page.evaluate('location.hash')).toBe('');

    for (const jobId of ['job-42', 'job-43']) {
      await page.fill('#job-id', jobId);
      await page.click('#job-form button[type=submit]');
      await waitText(page, `[data-job-id="${jobId}"] .job-status`, (t) => t === 'subscribed', `${jobId} subscribed`);
    }
    await page.fill('#log-app', 'checkout');
    await page.click('#logs-form button[type=submit]');
    await waitText(page, '#logs-state', (t) => t === 'live · checkout', 'logs live');

    // Who is watching each panel, live (presence through the SDK).
    for (const selector of ['#analytics-watching', '#errors-watching', '#logs-watching', '[data-job-id="job-42"] .watching']) {
      await waitText(page, selector, (t) => t.startsWith('1 watching: ops'), `${selector} shows the page's own user`);
    }
    const viewer = new AnalyticsClient({ url: gateway.url, WebSocket, token: jwt.sign({ sub: 'viewer-2' }, SECRET, { algorithm: 'HS256', expiresIn: 600 }) });
    try {
      await waitText(page, '#analytics-watching', (t) => t.startsWith('2 watching:') && t.includes('viewer-2') && t.includes('ops'), 'a second watcher appears');
    } finally {
      viewer.close();
    }

    const progress = (currentPage: number, itemsScraped: number) => ({
      type: 'job_progress',
      ownerId: 'ops',
      data: { itemsScraped, pagesScraped: currentPage, currentPage, totalPages: 10, elapsedTime: currentPage * 1300 },
    });
    await accepted(gateway.url, '/jobs/job-42/events', { type: 'job_started', ownerId: 'ops', data: { url: 'https://shop.example/' } });
    await accepted(gateway.url, '/jobs/job-42/events', progress(4, 120));
    const job42 = '[data-job-id="job-42"]';
    const figures = await waitText(page, `${job42} .job-figures`, (t) => t.startsWith('page 4 / 10'), 'job-42 progress');
    expect(figures).toContain('120 items');
    expect(await text(page, `${job42} .job-status`)).toBe('running');
    expect(await page.getAttribute(`${job42} .bar > div`, 'style')).toBe('width: 40%;');
    await accepted(gateway.url, '/jobs/job-42/events', progress(10, 310));
    await accepted(gateway.url, '/jobs/job-42/events', { type: 'job_completed', ownerId: 'ops', data: { itemsScraped: 310 } });
    await waitText(page, `${job42} .job-status`, (t) => t === 'completed', 'job-42 completed');
    expect(await text(page, `${job42} .job-figures`)).toContain('page 10 / 10');

    await accepted(gateway.url, '/jobs/job-43/events', { type: 'job_started', ownerId: 'ops' });
    await accepted(gateway.url, '/jobs/job-43/events', progress(3, 75));
    await waitText(page, '[data-job-id="job-43"] .job-figures', (t) => t.startsWith('page 3 / 10'), 'job-43 progress');
    expect(await text(page, '[data-job-id="job-43"] .job-status')).toBe('running');

    // the rest of the page, through Redis, for a screenshot a person can judge
    for (const [i, path] of ['/pricing', '/', '/docs', '/pricing'].entries()) {
      await accepted(gateway.url, '/events', { type: 'page_view', visitor_id: `visitor-${i % 3}`, data: { path } });
    }
    await accepted(gateway.url, '/report', {
      service: 'checkout',
      level: 'error',
      path: '/api/orders',
      method: 'POST',
      error: { message: 'payment provider timed out after 30 s', stack: 'Error: timeout\n    at charge (pay.js:41:11)' },
    });
    await accepted(gateway.url, '/report', { service: 'search', level: 'warn', error: { message: 'slow query: 2.4 s' } });
    await accepted(gateway.url, '/logs', [
      { appId: 'checkout', level: 'info', message: 'order 1042 created', metadata: { amount: 59.9 } },
      { appId: 'checkout', level: 'warn', message: 'retrying payment for order 1042' },
      { appId: 'checkout', level: 'error', message: 'payment failed for order 1042' },
      { appId: 'billing', level: 'error', message: 'billing line the checkout view must not show' },
    ]);
    await waitText(page, '#errors', (t) => t.includes('payment provider timed out') && t.includes('slow query'), 'errors');
    await waitText(page, '#logs', (t) => t.includes('payment failed for order 1042'), 'checkout logs');
    expect(await text(page, '#logs')).not.toContain('billing line');
    await waitText(page, '#total_events', (t) => t === '4', 'total_events 4');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
    expect(problems).toEqual([]);
  });

  it('shows a reconnect that resumed, with the events missed meanwhile replayed', async () => {
    const { page } = await dashboard(gateway, `#token=${token}`);
    await waitText(page, '#analytics-state', (t) => t === 'live', 'analytics live');
    // Another gateway takes the events while the page's one restarts.
    const other = await start('gateway', env);
    const observer = new AnalyticsClient({ url: other.url, WebSocket, token, reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 } });
    try {
      await waitFor(() => observer.stats, { ...DOM_WAIT, what: 'the observer connected' });
      const port = gateway.port;
      await gateway.stop('SIGTERM');
      await waitText(page, '#analytics-state', (t) => t !== 'live', 'the page noticing the restart');
      const before = observer.stats?.total_events ?? 0;
      for (const visitor of ['missed-a', 'missed-b', 'missed-c']) await accepted(other.url, '/events', { type: 'page_view', visitor_id: visitor });
      await waitFor(() => (observer.stats?.total_events ?? 0) >= before + 3, { ...DOM_WAIT, what: 'the events published' });

      gateway = await start('gateway', { ...env, PORT: String(port) });
      const state = await waitText(page, '#analytics-state', (t) => t.includes('reconnected — resumed'), 'the resumed reconnect');
      const replayed = Number(/resumed, (\d+) missed events? replayed/.exec(state)?.[1]);
      expect(replayed).toBeGreaterThanOrEqual(3);
      await waitText(page, '#feed', (t) => ['missed-a', 'missed-b', 'missed-c'].every((v) => t.includes(v)), 'the replayed events in the feed');
      expect(await text(page, '#feed')).toContain('reconnected — resumed');
    } finally {
      observer.close();
    }
  });
});
