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

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('fan-out to uWS topics', () => {
  it('publishes a frame once per topic, uncompressed when small', () => {
    const { ctx, publish } = fakeContext({ all: 3 });
    publishToTopic(ctx, 'analytics', 'all', '{"type":"x"}');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(publish).toHaveBeenCalledWith('all', '{"type":"x"}', false, false);
  });

  it('adds up the counters of a burst and hands them to prom-client once the turn ends', async () => {
    const { ctx, registry } = fakeContext({ all: 3, logs: 2 });
    for (let i = 0; i < 5; i++) {
      countChannelFrame(ctx, 'analytics');
      publishToTopic(ctx, 'analytics', 'all', '{}');
    }
    publishToTopic(ctx, 'logs', 'logs', '{}');
    const sent = async () => (await registry.getSingleMetric('switchboard_ws_messages_sent_total')?.get())?.values;
    expect(await sent()).toEqual([]);
    await nextTurn();
    expect(await sent()).toEqual([
      { labels: { endpoint: 'analytics' }, value: 15 },
      { labels: { endpoint: 'logs' }, value: 2 },
    ]);
    const frames = (await registry.getSingleMetric('switchboard_channel_messages_total')?.get())?.values;
    expect(frames).toEqual([{ labels: { channel: 'analytics' }, value: 5 }]);
    // The next burst is counted on top.
    publishToTopic(ctx, 'analytics', 'all', '{}');
    await nextTurn();
    expect((await sent())?.[0]).toEqual({ labels: { endpoint: 'analytics' }, value: 18 });
  });
});
