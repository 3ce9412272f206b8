import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { NodeReport } from '@switchboard/protocol';
import { MachineSampler } from '../src/node-sample.js';
import { NodeReporter } from '../src/node-reporter.js';

describe('MachineSampler', () => {
  it('samples this machine with plausible figures', async () => {
    const sample = await new MachineSampler().sample();
    expect(sample.cpu.cores).toBeGreaterThan(0);
    expect(sample.cpu.usage).toBeGreaterThanOrEqual(0);
    expect(sample.cpu.usage).toBeLessThanOrEqual(100);
    expect(sample.memory.total).toBeGreaterThan(sample.memory.free);
    expect(sample.memory.used + sample.memory.free).toBe(sample.memory.total);
    expect(sample.disk.total).toBeGreaterThan(0);
    expect(sample.network.bytesReceived).toBeGreaterThanOrEqual(0);
  });
});

describe('NodeReporter', () => {
  const logger = pino({ level: 'silent' });
  let reporter: NodeReporter | undefined;
  beforeEach(() => {
    // Only timers: the sampler reads /proc and the disk through real promises.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    reporter?.stop();
    vi.useRealTimers();
  });

  const settle = () => vi.waitFor(() => undefined);

  it('reports at start and every interval, with the connection counts of the moment', async () => {
    const reports: NodeReport[] = [];
    let all = 3;
    reporter = new NodeReporter({ nodeId: 'n1', intervalMs: 1_000, connections: () => ({ all, logs: 1 }), store: async (r) => void reports.push(r) }, logger);
    reporter.start();
    await vi.waitFor(() => expect(reports).toHaveLength(1));
    all = 5;
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitFor(() => expect(reports).toHaveLength(2));
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.waitFor(() => expect(reports).toHaveLength(4));
    expect(reports[0]).toMatchObject({ node: 'n1', connections: 3, logConnections: 1 });
    expect(reports[1]).toMatchObject({ node: 'n1', connections: 5 });
    expect(reports[0]!.cpu.cores).toBeGreaterThan(0);
  });

  it('reports a burst of nudges once, shortly after the first', async () => {
    const store = vi.fn(async () => undefined);
    reporter = new NodeReporter({ nodeId: 'n1', intervalMs: 60_000, connections: () => ({ all: 0, logs: 0 }), store }, logger);
    for (let i = 0; i < 10; i += 1) reporter.nudge();
    await vi.advanceTimersByTimeAsync(199);
    await settle();
    expect(store).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(store).toHaveBeenCalledTimes(1));
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(store).toHaveBeenCalledTimes(1);
  });

  it('never throws when the store fails, and reports again once it works', async () => {
    let failing = true;
    const stored: NodeReport[] = [];
    reporter = new NodeReporter(
      {
        nodeId: 'n1',
        intervalMs: 1_000,
        connections: () => ({ all: 0, logs: 0 }),
        store: async (r) => {
          if (failing) throw new Error('engine down');
          stored.push(r);
        },
      },
      logger,
    );
    await expect(reporter.report()).resolves.toBeUndefined();
    await expect(reporter.report()).resolves.toBeUndefined();
    failing = false;
    await reporter.report();
    expect(stored).toHaveLength(1);
  });
});
