import { Registry } from 'prom-client';
import { randomUUID } from 'node:crypto';
import { analyticsEventFrame, newEventId } from '@switchboard/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { GatewayContext } from '../src/context.js';
import { createGatewayMetrics } from '../src/metrics.js';
import { fanoutMeter, leadingEventId } from '../src/ws/fanout.js';

function fakeContext(subscribers: Record<string, number>) {
  const registry = new Registry();
  const publish = vi.fn();
  const ctx = {
    app: { numSubscribers: (topic: string) => subscribers[topic] ?? 0, publish },
    metrics: createGatewayMetrics(registry),
  } as unknown as GatewayContext;
  return { ctx, publish, registry };
}

describe('fan-out to uWS topics', () => {
  it('publishes a frame once per topic, uncompressed when small', () => {
    const { ctx, publish } = fakeContext({ all: 3 });
    fanoutMeter(ctx, 'analytics').publish('all', '{"type":"x"}');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(publish).toHaveBeenCalledWith('all', '{"type":"x"}', false, false);
  });

  it('counts every frame and recipient, as read whenever the registry is read', async () => {
    const { ctx, registry } = fakeContext({ all: 3, logs: 2 });
    const sent = async () => (await registry.getSingleMetric('switchboard_ws_messages_sent_total')?.get())?.values;
    expect(await sent()).toEqual([]);
    const analytics = fanoutMeter(ctx, 'analytics');
    for (let i = 0; i < 5; i++) {
      analytics.frame();
      analytics.publish('all', '{}');
    }
    fanoutMeter(ctx, 'logs').publish('logs', '{}');
    // Counted at once (no turn to wait for), however the counts are kept on the way.
    expect(await sent()).toEqual([
      { labels: { endpoint: 'analytics' }, value: 15 },
      { labels: { endpoint: 'logs' }, value: 2 },
    ]);
    const frames = (await registry.getSingleMetric('switchboard_channel_messages_total')?.get())?.values;
    expect(frames).toEqual([{ labels: { channel: 'analytics' }, value: 5 }]);
    // Later frames are counted on top, once each however often the registry is read.
    // A second meter of the same endpoint (a logs app's hub) adds to the same series.
    fanoutMeter(ctx, 'analytics').publish('all', '{}');
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 18 });
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 18 });
    // Direct increments elsewhere (a reply to one socket) add to the same series.
    ctx.metrics.sent.inc({ endpoint: 'analytics' });
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 19 });
  });

  it('observes the ingest → hand-off latency of UUIDv7 ids only, in the channel\'s series', async () => {
    const { ctx, registry } = fakeContext({});
    const meter = fanoutMeter(ctx, 'logs', 'logs-metrics');
    meter.delivered(newEventId());
    meter.delivered(undefined);
    meter.delivered(randomUUID());
    const text = await registry.metrics();
    expect(text).toContain('switchboard_delivery_latency_seconds_count{channel="logs-metrics"} 1');
    // A reset drops the series; the bound meter starts a new one.
    registry.resetMetrics();
    meter.delivered(newEventId());
    expect(await registry.metrics()).toContain('switchboard_delivery_latency_seconds_count{channel="logs-metrics"} 1');
  });
});

describe('leadingEventId', () => {
  it("reads the id of a frame as the worker builds it, and nothing from any other shape", () => {
    const id = newEventId();
    expect(leadingEventId(analyticsEventFrame({ type: 'page_view', id, visitor_id: 'v', timestamp: '2026-01-01T00:00:00.000Z', data: { id: 'x' } }))).toBe(id);
    expect(leadingEventId(`{"type":"heartbeat","data":{"id":"${id}"}}`)).toBeUndefined();
    expect(leadingEventId(`{"id":"${id}","type":"x"}`)).toBeUndefined();
    expect(leadingEventId(`{"type":"x","id":"${id}x"}`)).toBeUndefined();
    expect(leadingEventId('{"type":"x","id":"short"}')).toBeUndefined();
    expect(leadingEventId('{"type":"unterminated')).toBeUndefined();
  });
});
