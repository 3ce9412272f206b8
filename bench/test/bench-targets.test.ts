/** The report's verdicts for the churn, rolling-restart and ingest targets. */
import { describe, expect, it } from 'vitest';
import { computeRatios, evaluateTargets, markdownTables, type Entry } from '../src/results.js';

const entry = (over: Partial<Entry> & Pick<Entry, 'scenario' | 'system' | 'value'>): Entry => ({
  key: over.scenario,
  case: 'case',
  label: over.system,
  baseline: false,
  metric: 'm',
  unit: 'u',
  better: 'higher',
  figures: {},
  ratios: {},
  ...over,
});

const churnFigures = { accepted: 400, lost: 0, duplicates: 0, replay_p50_ms: 40, replay_p99_ms: 300, delivered_pct: 100, lost_per_client: 0 };
const verdict = (entries: Entry[], id: string) => evaluateTargets(entries).find((t) => t.id === id);

describe('bench targets', () => {
  it('churn is met only with nothing lost, no duplicate and replay p99 under a second', () => {
    expect(verdict([entry({ scenario: 'churn', system: 'switchboard', value: 100, figures: churnFigures })], 'churn:switchboard')?.verdict).toBe('met');
    for (const bad of [{ lost: 3 }, { duplicates: 1 }, { replay_p99_ms: 1000 }, { replay_p99_ms: null }, { accepted: 0 }]) {
      const t = verdict([entry({ scenario: 'churn', system: 'switchboard', value: 99, figures: { ...churnFigures, ...bad } })], 'churn:switchboard');
      expect(t?.verdict, JSON.stringify(bad)).toBe('missed');
    }
    expect(verdict([], 'churn:switchboard-sio')?.verdict).toBe('not measured');
  });

  it('rolling restart needs every client back, nothing lost and reconnect p50 under a second', () => {
    const ok = { accepted: 100, lost: 0, duplicates: 0, still_open: 50, clients: 50, reconnected_pct: 100, reconnect_p50_ms: 200 };
    expect(verdict([entry({ scenario: 'restart', system: 'switchboard-sio', value: 100, figures: ok })], 'restart:switchboard-sio')?.verdict).toBe('met');
    for (const bad of [{ lost: 1 }, { still_open: 49 }, { reconnected_pct: 98 }, { reconnect_p50_ms: 1500 }]) {
      const t = verdict([entry({ scenario: 'restart', system: 'switchboard-sio', value: 100, figures: { ...ok, ...bad } })], 'restart:switchboard-sio');
      expect(t?.verdict, JSON.stringify(bad)).toBe('missed');
    }
  });

  it('ingest targets are ratios to the bare uWS server; churn rows carry no ratios', () => {
    const entries = [
      entry({ scenario: 'ingest', system: 'ingest-uws', baseline: true, value: 40_000 }),
      entry({ scenario: 'ingest', system: 'switchboard-accepted', value: 33_000 }),
      entry({ scenario: 'ingest', system: 'switchboard-e2e', value: 19_000 }),
      entry({ scenario: 'churn', system: 'uws-bare', baseline: true, value: 87 }),
      entry({ scenario: 'churn', system: 'switchboard', value: 100, figures: churnFigures }),
    ];
    computeRatios(entries);
    expect(entries[1]!.ratios['ingest-uws']).toBe(0.825);
    expect(entries[4]!.ratios).toEqual({});
    expect(verdict(entries, 'ingest-vs-uws:switchboard-accepted')?.verdict).toBe('met');
    expect(verdict(entries, 'e2e-vs-uws:switchboard-e2e')?.verdict).toBe('missed');
    expect(markdownTables(entries)).toContain('### Churn');
  });

  it('holds the throughput targets: fan-out 0.9× (engine) and 0.7× (POST), end to end 0.7×, latency p99 ≤ 1.3×, Redis ≤ 12 µs per event', () => {
    const fanout = (system: string, value: number, baseline = false) => entry({ scenario: 'fanout', key: 'fanout:100:100', system, value, baseline });
    const latency = (system: string, value: number, baseline = false) => entry({ scenario: 'latency', key: 'latency:500:100', system, value, baseline, better: 'lower' });
    const entries = [
      fanout('uws-bare', 1_000_000, true),
      fanout('switchboard-redis', 880_000),
      fanout('switchboard-ingest', 720_000),
      latency('uws-bare', 10, true),
      latency('switchboard-ingest', 12.5),
      entry({ scenario: 'ingest', system: 'ingest-uws', baseline: true, value: 40_000, figures: { redis_us_per_event: 9.5 } }),
      entry({ scenario: 'ingest', system: 'switchboard-e2e', value: 28_400, figures: { redis_us_per_event: 11.8, redis_calls_per_event: 3.2, committed: 300_000 } }),
    ];
    computeRatios(entries);
    expect(verdict(entries, 'fanout-engine-vs-uws:switchboard-redis')?.verdict).toBe('missed');
    expect(verdict(entries, 'fanout-post-vs-uws:switchboard-ingest')?.verdict).toBe('met');
    expect(verdict(entries, 'latency-vs-uws:switchboard-ingest')?.verdict).toBe('met');
    expect(verdict(entries, 'e2e-vs-uws:switchboard-e2e')?.verdict).toBe('met');
    const redis = verdict(entries, 'e2e-redis-cpu');
    expect(redis?.verdict).toBe('met');
    expect(redis?.detail).toContain('11.8 µs and 3.2 Redis calls per committed event');
    expect(redis?.detail).toContain('9.5 µs');

    entries[4]!.value = 13.5; // p99 1.35× the bare server's
    entries[6]!.figures['redis_us_per_event'] = 12.5;
    computeRatios(entries);
    expect(verdict(entries, 'latency-vs-uws:switchboard-ingest')?.verdict).toBe('missed');
    expect(verdict(entries, 'e2e-redis-cpu')?.verdict).toBe('missed');
    expect(verdict([], 'e2e-redis-cpu')?.verdict).toBe('not measured');
    expect(markdownTables(entries)).toContain('Redis µs/event');
  });
});
