import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotHistogram } from '../src/hot-histogram.js';

const options = (registry: Registry) => ({
  name: 'test_latency_seconds',
  help: 'A latency.',
  labelNames: ['channel'] as const,
  buckets: [0.001, 0.01, 0.1, 1],
  registers: [registry],
});

describe('HotHistogram', () => {
  it('is exposed exactly as a prom-client Histogram with the same observations', async () => {
    const hotRegistry = new Registry();
    const promRegistry = new Registry();
    const hot = new HotHistogram(options(hotRegistry));
    const prom = new Histogram(options(promRegistry));
    const observations: [string, number][] = [
      ['analytics', 0],
      ['analytics', 0.001],
      ['analytics', 0.0011],
      ['logs', 0.05],
      ['analytics', 0.5],
      ['analytics', 7],
      ['logs', 1],
    ];
    // The logs series through a bound observer, the others by labels: one histogram either way.
    let logs: ((value: number) => void) | undefined;
    for (const [channel, value] of observations) {
      if (channel === 'logs') (logs ??= hot.bind({ channel: 'logs' }))(value);
      else hot.observe({ channel }, value);
      prom.observe({ channel }, value);
    }
    expect(await hotRegistry.metrics()).toBe(await promRegistry.metrics());
    expect(await hotRegistry.metrics()).toContain('test_latency_seconds_bucket{le="0.01",channel="analytics"} 3');
  });

  it('starts over on reset, and refuses a value that is not a number', async () => {
    const registry = new Registry();
    const hot = new HotHistogram(options(registry));
    hot.observe({ channel: 'a' }, 0.2);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain('channel="a"');
    expect(() => hot.observe({ channel: 'a' }, Number.NaN)).toThrow(TypeError);
    expect(() => hot.bind({ channel: 'a' })(Number.POSITIVE_INFINITY)).toThrow(TypeError);
  });
});
