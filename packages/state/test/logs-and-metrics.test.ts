import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '@switchboard/engine';
import type { NodeReport } from '@switchboard/protocol';
import {
  LOG_RATE_WINDOW_S,
  aggregateReports,
  appendLogHistoryOps,
  clearLogHistoryOps,
  logRateOps,
  nodeReportOps,
  readClusterMetrics,
  readLogHistory,
  readLogRates,
} from '../src/index.js';

const none = { kind: 'none' as const };

describe('log history', () => {
  it('keeps the newest entries up to the limit and reads them oldest first', async () => {
    const engine = new MemoryEngine();
    await engine.commit({ guard: none, ops: appendLogHistoryOps('app', ['1', '2', '3'], 4) });
    await engine.commit({ guard: none, ops: appendLogHistoryOps('app', ['4', '5'], 4) });
    expect(await readLogHistory(engine, 'app', 4)).toEqual(['2', '3', '4', '5']);
    expect(await readLogHistory(engine, 'app', 2)).toEqual(['4', '5']);
    expect(await readLogHistory(engine, 'other', 4)).toEqual([]);
    await engine.commit({ guard: none, ops: clearLogHistoryOps('app') });
    expect(await readLogHistory(engine, 'app', 4)).toEqual([]);
  });
});

describe('log rates', () => {
  it('averages entries and error-level entries over the window of whole seconds', async () => {
    const engine = new MemoryEngine();
    const now = Date.UTC(2026, 0, 1, 0, 0, 30, 500);
    await engine.commit({ guard: none, ops: logRateOps(['info', 'ERROR', 'warn', 'fatal'], now - 1000) });
    await engine.commit({ guard: none, ops: logRateOps(['info'], now - 5000) });
    await engine.commit({ guard: none, ops: logRateOps(['error'], now) }); // the current second: not yet counted
    await engine.commit({ guard: none, ops: logRateOps(['error'], now - (LOG_RATE_WINDOW_S + 1) * 1000) }); // too old
    expect(await readLogRates(engine, now)).toEqual({ messageRate: 5 / LOG_RATE_WINDOW_S, errorRate: 2 / LOG_RATE_WINDOW_S });
  });
});

const report = (node: string, host: string, at: number, over: Partial<NodeReport> = {}): NodeReport => ({
  node,
  host,
  at,
  cpu: { usage: 50, cores: 2 },
  memory: { used: 6, free: 4, total: 10 },
  disk: { used: 60, free: 40, total: 100 },
  network: { bytesReceived: 1000, bytesSent: 2000 },
  connections: 3,
  logConnections: 1,
  ...over,
});

describe('cluster metrics', () => {
  it('counts machine figures once per host and connections once per node', () => {
    const metrics = aggregateReports(
      [
        report('gw-1', 'host-a', 100),
        report('gw-2', 'host-a', 200, { cpu: { usage: 10, cores: 2 }, connections: 5, logConnections: 2 }),
        report('gw-3', 'host-b', 150, { cpu: { usage: 100, cores: 6 } }),
      ],
      { messageRate: 1.5, errorRate: 0.1 },
      999,
    );
    expect(metrics).toEqual({
      timestamp: 999,
      cpu: { usage: (10 * 2 + 100 * 6) / 8, cores: 8 },
      memory: { used: 12, free: 8, total: 20 },
      disk: { used: 120, free: 80, total: 200 },
      network: { bytesReceived: 2000, bytesSent: 4000, connections: 11 },
      activeConnections: 4,
      messageRate: 1.5,
      errorRate: 0.1,
    });
  });

  it('reads the reports of live nodes only, through the engine', async () => {
    const engine = new MemoryEngine();
    const now = Date.now();
    await engine.commit({ guard: none, ops: nodeReportOps(report('live', 'h1', now - 500, { logConnections: 7 }), 1000) });
    await engine.commit({ guard: none, ops: nodeReportOps(report('stale', 'h2', now - 10_000, { logConnections: 100 }), 1000) });
    const metrics = await readClusterMetrics(engine, 1000, now);
    expect(metrics.activeConnections).toBe(7);
    expect(metrics.cpu.cores).toBe(2);
  });
});
