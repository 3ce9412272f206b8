import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_STREAM } from '@switchboard/protocol';
import type { RedisServer } from '../support/redis-server.js';
import { startGatewayAndWorkers, type GatewayAndWorkers } from '../support/cluster.js';
import type { NodeProcess } from '../support/node-process.js';
import { TestClient } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * Two workers read one ingest stream while producers post concurrently: a channel's frames still
 * follow the stream's order (the order in which the events were accepted), whichever worker
 * commits which batch, and its offsets increase one by one.
 */
let cluster: GatewayAndWorkers | undefined;
let redis: RedisServer;
let gateway: NodeProcess;
let workers: NodeProcess[] = [];

beforeAll(async () => {
  cluster = await startGatewayAndWorkers({ INGEST_API_KEYS: PRODUCER_KEY, LOG_LEVEL: 'warn' });
  ({ redis, gateway, workers } = cluster);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('stream order with several workers', () => {
  it("publishes a channel's frames in the order the stream accepted them, with two workers", async () => {
    const client = await TestClient.connect(gateway.wsUrl('/ws/analytics'));
    await client.next((f) => f.type === 'initial_stats', { what: 'initial_stats' });

    const accepted = new Set<string>();
    let sent = 0;
    const TOTAL = 1_500;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (sent < TOTAL) {
          const res = await post(gateway.url, '/events', { type: 'page_view', visitor_id: `order-${sent++}` });
          if (res.status === 202) accepted.add(res.json['id'] as string);
        }
      }),
    );
    const received = () => client.frames.filter((f) => f.frame.type === 'page_view' && accepted.has(f.frame['id'] as string)).map((f) => f.frame);
    await waitFor(() => received().length >= accepted.size, { what: 'every accepted event', timeoutMs: 60_000 });

    // The stream's order of the events, by id.
    const admin = redis.client();
    const stream = (await admin.xrange(INGEST_STREAM, '-', '+')) as [string, string[]][];
    admin.disconnect();
    const position = new Map(stream.map(([, fields], n) => [fields[fields.indexOf('id') + 1]!, n]));
    const frames = received();
    const positions = frames.map((f) => position.get(f['id'] as string)!);
    const outOfOrder = positions.filter((p, n) => n > 0 && p < positions[n - 1]!).length;
    // Both workers committed part of the events.
    const processed = await Promise.all(workers.map(async (w) => /switchboard_worker_events_processed_total\{kind="analytics"\} (\d+)/.exec(await w.metrics())?.[1]));
    console.log(`order: ${frames.length} events over two workers (${processed.join(' + ')}); ${outOfOrder} out of stream order`);
    expect(processed.every((n) => Number(n) > 0)).toBe(true);
    expect(outOfOrder).toBe(0);
    // Heartbeats share the channel: every frame of it, in arrival order, one offset after the other.
    const offsets = client.frames.map((f) => f.frame['offset']).filter((o): o is number => typeof o === 'number');
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1]! + 1);
    client.close();
  });
});
