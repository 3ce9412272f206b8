import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createGatewayMetrics, tally } from '../src/metrics.js';

describe('tally', () => {
  it('adds what it counted to its counter whenever the registry is read, once', async () => {
    const registry = new Registry();
    const metrics = createGatewayMetrics(registry);
    const accepted = tally(metrics.ingest, { kind: 'analytics', outcome: 'accepted' });
    const invalid = tally(metrics.ingest, { kind: 'analytics', outcome: 'invalid' });
    accepted();
    accepted();
    invalid();
    let text = await registry.metrics();
    expect(text).toContain('switchboard_ingest_requests_total{kind="analytics",outcome="accepted"} 2');
    expect(text).toContain('switchboard_ingest_requests_total{kind="analytics",outcome="invalid"} 1');
    accepted();
    text = await registry.metrics();
    expect(text).toContain('switchboard_ingest_requests_total{kind="analytics",outcome="accepted"} 3');
    expect(text).toContain('switchboard_ingest_requests_total{kind="analytics",outcome="invalid"} 1');
  });
});
