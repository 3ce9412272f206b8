/**
 * Ingest throughput (formerly bench/ingest-throughput.mjs): how many analytics events per second
 * a gateway accepts (202 = stored in the Redis stream) and the worker delivers to a WebSocket
 * client, against the floor — the same entries appended to the same Redis with XADD directly.
 */
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { until } from './lib/proc.js';

export interface IngestResult {
  xadd_per_s: number;
  accepted_per_s: number;
  end_to_end_per_s: number;
  post_p50_ms: number;
  post_p99_ms: number;
  non_2xx: number;
  delivered: number;
}

export async function ingestRun(redisUrl: string, gatewayUrl: string, events: number, connections: number): Promise<IngestResult> {
  const body = JSON.stringify({ type: 'page_view', visitor_id: 'bench-visitor', data: { path: '/pricing' } });
  const fields = ['kind', 'analytics', 'id', '01a200f1-62d5-72c1-a1a7-cc7260cb3229', 'at', String(Date.now()), 'body', body];
  const raw = new Redis(redisUrl);
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (sent < events) {
        sent += 1;
        await raw.xadd('bench:baseline', '*', ...fields);
      }
    }),
  );
  const xaddPerS = events / ((performance.now() - t0) / 1000);
  await raw.del('bench:baseline');
  raw.disconnect();

  const ws = new WebSocket(`${gatewayUrl.replace('http', 'ws')}/ws/analytics`);
  let delivered = 0;
  let lastDeliveryAt = 0;
  ws.on('message', (data: Buffer) => {
    if (data.toString('latin1', 0, 20).startsWith('{"type":"page_view"')) {
      delivered += 1;
      lastDeliveryAt = performance.now();
    }
  });
  await new Promise((r) => ws.once('message', r));
  const t1 = performance.now();
  const result = await autocannon({
    url: `${gatewayUrl}/events`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections,
    amount: events,
  });
  const ingestSeconds = (performance.now() - t1) / 1000;
  await until(async () => delivered >= result['2xx'], 'every ingested event delivered', 120_000);
  ws.close();
  return {
    xadd_per_s: Math.round(xaddPerS),
    accepted_per_s: Math.round(result['2xx'] / ingestSeconds),
    end_to_end_per_s: Math.round(delivered / ((lastDeliveryAt - t1) / 1000)),
    post_p50_ms: result.latency.p50,
    post_p99_ms: result.latency.p99,
    non_2xx: result.non2xx,
    delivered,
  };
}
