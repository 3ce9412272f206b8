import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage } from '../support/browser.js';
import { NodeProcess } from '../support/node-process.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * The dashboard's operations view (docs/dashboard.md) in headless Chromium, against a real
 * gateway and a real worker on a real redis-server: `/api/status` figures, the charts drawn on
 * canvases (checked pixel by pixel and kept as a screenshot), live updates.
 */
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const DOM_WAIT = { timeoutMs: 45_000, intervalMs: 200 };
const ENV = { LOG_LEVEL: 'warn', HEARTBEAT_INTERVAL_MS: '500', LOG_METRICS_INTERVAL_MS: '500', INGEST_API_KEYS: PRODUCER_KEY };

interface Status {
  gateway: string;
  eventsTotal: number;
  nodes: { node: string; connections: number }[];
  ingest: { pending: number; lag: number | null; partitions: { pending: number; lag: number | null }[] };
  deadLetters: number;
  leader: string | null;
  redis: { address: string; role: string }[];
}

let browser: Browser;
let context: BrowserContext | undefined;
let redis: RedisServer;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  const env = { ...ENV, REDIS_URL: redis.url };
  nodes.push(...(await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('worker', env)])));
  browser = await launchChromium();
});

afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

/** How many pixels of the canvas are (close to) the given colour. */
const pixelsOf = (page: Page, id: string, rgb: [number, number, number]): Promise<number> =>
  page.evaluate(
    ([canvasId, [r, g, b]]) => {
      const canvas = document.getElementById(canvasId) as HTMLCanvasElement;
      const data = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? new Uint8ClampedArray();
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! > 200 && Math.abs(data[i]! - r) < 24 && Math.abs(data[i + 1]! - g) < 24 && Math.abs(data[i + 2]! - b) < 24) count += 1;
      }
      return count;
    },
    [id, rgb] as const,
  );

describe('operations view: a gateway and a worker on Redis', () => {
  it('GET /api/status tells the cluster figures: nodes, leader, backlog per partition, dead letters, Redis role', async () => {
    const [gateway, worker] = nodes as [NodeProcess, NodeProcess];
    const status = await waitFor(
      async () => {
        const s = await gateway.json<Status>('/api/status');
        const reported = (id: string) => s.nodes.some((n) => n.node.startsWith(`${id}-`));
        return s.leader !== null && reported(gateway.nodeId) && reported(worker.nodeId) ? s : undefined;
      },
      { timeoutMs: 30_000, what: 'both nodes reported and a leader elected' },
    );
    expect(status.gateway).toBe(gateway.nodeId);
    expect(status.leader?.startsWith(`${worker.nodeId}-`)).toBe(true);
    expect(status.redis).toEqual([{ address: `127.0.0.1:${redis.port}`, role: 'master' }]);
    expect(status.ingest.partitions).toHaveLength(1);
    expect(status.deadLetters).toBe(0);
    const head = await fetch(`${gateway.url}/api/status`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/json');
  });

  it('draws the charts and tiles, and follows new events and dead letters live', async () => {
    const gateway = nodes[0]!;
    const opened = await openPage(browser);
    context = opened.context;
    const { page, problems } = opened;
    await page.goto(`${gateway.url}/`, { timeout: 60_000 });
    await waitFor(async () => ((await page.textContent('#ops-state')) ?? '').startsWith('updated'), { ...DOM_WAIT, what: 'the first status' });

    // A steady trickle of events for the events/s line, and one entry the worker must set aside.
    const producer = setInterval(() => void post(gateway.url, '/events', { type: 'page_view', visitor_id: `v-${Date.now()}` }).catch(() => undefined), 100);
    const client = new Redis(redis.url);
    try {
      await client.xadd('sb:ingest', '*', 'kind', 'no-such-kind', 'body', '{}');
      await waitFor(async () => (await page.textContent('#ops-dead')) === '1', { ...DOM_WAIT, what: 'the dead letter counted' });
      // The events line (green) rises above its baseline once two samples saw the total grow.
      await waitFor(async () => (await pixelsOf(page, 'ops-events', [63, 185, 80])) > 150, { ...DOM_WAIT, what: 'the events/s line drawn' });
      await waitFor(async () => ((await page.textContent('#ops-events-now')) ?? '') !== '0/s', { ...DOM_WAIT, what: 'a non-zero events/s' });
    } finally {
      clearInterval(producer);
      client.disconnect();
    }
    // Connections per gateway and the backlog are bars (blue); the page's own WebSocket counts.
    await waitFor(async () => (await pixelsOf(page, 'ops-connections', [88, 166, 255])) > 20, { ...DOM_WAIT, what: 'connection bars drawn' });
    expect(await pixelsOf(page, 'ops-lag', [88, 166, 255])).toBeGreaterThan(0);
    expect(await page.textContent('#ops-redis')).toContain('master');
    expect(await page.textContent('#ops-workers')).toContain('leader');
    expect(await page.textContent('#ops-leader')).toContain(nodes[1]!.nodeId);

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = await page.locator('#ops-panel').screenshot({ path: `${ARTIFACTS}dashboard-ops.png` });
    expect(shot.length).toBeGreaterThan(10_000); // a drawn panel, not an empty box
    expect(problems).toEqual([]);
  });
});

describe('operations view: the all role on the in-memory engine', () => {
  it('GET /api/status answers the same shape, with no Redis nodes and one partition', async () => {
    const node = await NodeProcess.start('all', { ...ENV });
    nodes.push(node);
    const status = await waitFor(
      async () => {
        const s = await node.json<Status>('/api/status');
        return s.leader !== null && s.nodes.length > 0 ? s : undefined;
      },
      { timeoutMs: 30_000, what: 'a report and a leader' },
    );
    expect(status.redis).toEqual([]);
    expect(status.ingest.partitions).toEqual([{ pending: 0, lag: 0 }]);
    expect(status.deadLetters).toBe(0);
    expect(status.nodes[0]?.node.startsWith(`${node.nodeId}-all-`)).toBe(true);
  });
});
