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
});
