import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { GatewayContext } from '../src/context.js';
import { createGatewayMetrics } from '../src/metrics.js';
import { countChannelFrame, publishToTopic } from '../src/ws/fanout.js';

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
    publishToTopic(ctx, 'analytics', 'all', '{"type":"x"}');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(publish).toHaveBeenCalledWith('all', '{"type":"x"}', false, false);
  });

  it('counts every frame and recipient, as read whenever the registry is read', async () => {
    const { ctx, registry } = fakeContext({ all: 3, logs: 2 });
    const sent = async () => (await registry.getSingleMetric('switchboard_ws_messages_sent_total')?.get())?.values;
    expect(await sent()).toEqual([]);
    for (let i = 0; i < 5; i++) {
      countChannelFrame(ctx, 'analytics');
      publishToTopic(ctx, 'analytics', 'all', '{}');
    }
    publishToTopic(ctx, 'logs', 'logs', '{}');
    // Counted at once (no turn to wait for), however the counts are kept on the way.
    expect(await sent()).toEqual([
      { labels: { endpoint: 'analytics' }, value: 15 },
      { labels: { endpoint: 'logs' }, value: 2 },
    ]);
    const frames = (await registry.getSingleMetric('switchboard_channel_messages_total')?.get())?.values;
    expect(frames).toEqual([{ labels: { channel: 'analytics' }, value: 5 }]);
    // Later frames are counted on top, once each however often the registry is read.
    publishToTopic(ctx, 'analytics', 'all', '{}');
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 18 });
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 18 });
    // Direct increments elsewhere (a reply to one socket) add to the same series.
    ctx.metrics.sent.inc({ endpoint: 'analytics' });
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 19 });
  });
});
