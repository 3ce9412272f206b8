import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcess } from '../support/node-process.js';
import { RabbitBroker, RABBITMQ_URL, uniqueName } from '../support/rabbitmq.js';
import { RedisServer } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';
import { promtool, promtoolMissing } from './promtool.js';

/**
 * `promtool check metrics` on the live /metrics of a gateway, a worker and a bridge (real
 * redis-server and RabbitMQ), after traffic has touched every product, so histograms and labelled
 * counters have series. Skipped only when promtool is absent (.ci/run installs it).
 */
if (promtoolMissing !== undefined) console.warn(`test/deploy/metrics-promtool.cluster.test.ts skipped: ${promtoolMissing}`);

/**
 * What promtool reports about prom-client's own default Node.js metrics: these three are gauges
 * whose names end in `_total` (prom-client names them so). Accepted here, exactly; anything else
 * promtool says fails the test.
 */
const PROM_CLIENT_DEFAULTS = new Set(
  ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map(
    (m) => `${m} non-counter metrics should not have "_total" suffix`,
  ),
);

const QUEUE = uniqueName('switchboard.test.metrics');
let redis: RedisServer;
let broker: RabbitBroker;
const nodes: NodeProcess[] = [];

describe.skipIf(promtoolMissing !== undefined)(
  `live /metrics pass promtool check metrics${promtoolMissing === undefined ? '' : ` (skipped: ${promtoolMissing})`}`,
  () => {
    beforeAll(async () => {
      redis = await RedisServer.start();
      broker = await RabbitBroker.connect();
      const env = { REDIS_URL: redis.url, HEARTBEAT_INTERVAL_MS: '500', LOG_METRICS_INTERVAL_MS: '500' };
      nodes.push(
        ...(await Promise.all([
          NodeProcess.start('gateway', env),
          NodeProcess.start('worker', env),
          NodeProcess.start('bridge', { ...env, RABBITMQ_URL, RABBITMQ_QUEUE: QUEUE }),
        ])),
      );
      const [gateway, worker] = nodes;
      // Traffic through ingest, the worker and a broker message, so the series exist.
      const post = (path: string, body: unknown) =>
        fetch(`${gateway!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post('/events', { type: 'page_view', visitor_id: 'v1' })).status).toBe(202);
      expect((await post('/logs', { appId: 'shop', level: 'info', message: 'hello' })).status).toBe(202);
      expect((await post('/events', { type: 1 })).status).toBe(400);
      broker.publish('tour_booking_events', 'tour.availability.low', JSON.stringify({ tourId: 't1', tourTitle: 'Tour', availableSeats: 2, maxGroupSize: 10, threshold: 3 }));
      const processed = (text: string) =>
        [...text.matchAll(/^switchboard_worker_events_processed_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      await waitFor(async () => processed(await worker!.metrics()) >= 3, {
        timeoutMs: 60_000,
        what: 'the worker processed the three events',
      });
    });

    afterAll(async () => {
      await Promise.all(nodes.map((n) => n.stop()));
      await broker?.channel.deleteQueue(QUEUE).catch(() => undefined);
      await broker?.close();
      await redis?.stop();
    });

    for (const [i, role] of ['gateway', 'worker', 'bridge'].entries()) {
      it(`${role}: promtool check metrics finds no problem`, async () => {
        const node = nodes[i]!;
        expect(node.role).toBe(role);
        const text = await node.metrics();
        expect(text).toMatch(/^# TYPE /m);
        const r = promtool(['check', 'metrics'], { input: text });
        const problems = r.output.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !PROM_CLIENT_DEFAULTS.has(l));
        expect(problems, `promtool on the ${role}'s /metrics`).toEqual([]);
        // Its own metrics are there to be checked.
        expect(text).toMatch(new RegExp(`^# TYPE switchboard_${role === 'gateway' ? 'ingest' : role}_\\w+ `, 'm'));
      });
    }

    it('promtool check metrics does fail on a badly named metric (the check can fail)', () => {
      const r = promtool(['check', 'metrics'], { input: '# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n' });
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/_total/);
    });
  },
);
