import type { Histogram } from 'hdr-histogram-js';
import type { LoaderPool } from './load/pool.js';
import { preciseNow } from './load/protocol.js';
import { sleep, type CpuMeter } from './lib/proc.js';
import type { Message, Publisher } from './publish.js';

export interface LatencySummary {
  samples: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
}

export const summarize = (h: Histogram): LatencySummary => {
  const ms = (v: number) => Math.round(v) / 1000;
  return {
    samples: h.totalCount,
    p50_ms: ms(h.getValueAtPercentile(50)),
    p99_ms: ms(h.getValueAtPercentile(99)),
    p999_ms: ms(h.getValueAtPercentile(99.9)),
    max_ms: ms(h.maxValue),
  };
};

export interface RunOptions {
  pool: LoaderPool;
  publisher: Publisher;
  /** Clients connected for this run. */
  clients: number;
  pad: string;
  rooms: number;
  /** Socket.IO: the event every client receives (`error:new`); `roomEvent` counted apart. */
  event: string;
  roomEvent?: string;
  /** CPU use of the system's processes and of the load generators over the measured window. */
  cpu: CpuMeter;
}

class Sequencer {
  private seq = 0;
  constructor(private readonly options: RunOptions) {}
  next(count: number): Message[] {
    const t = preciseNow();
    return Array.from({ length: count }, () => {
      const seq = this.seq++;
      return { seq, t, pad: this.options.pad, service: `svc-${seq % this.options.rooms}` };
    });
  }
}

/**
 * Waits (bounded) until every open client has every published message; the rest counts as
 * lost. Resolves with when that happened (from the progress reports), or undefined on timeout.
 */
async function drain(pool: LoaderPool, published: number, timeoutMs: number): Promise<number | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (pool.progress().min >= published) return performance.now();
    if (performance.now() > deadline) return undefined;
    await pool.nextProgress(20);
  }
}

/** After a run: waits until no more messages arrive (a saturated run leaves a backlog behind). */
export async function quiesce(pool: LoaderPool, timeoutMs = 60_000): Promise<void> {
  // Counts everything, whenever it was sent: silence means the backlog is gone.
  await pool.track('count', 'error:new', undefined, 0);
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  while (performance.now() < deadline) {
    await sleep(300);
    const { sum } = pool.progress();
    if (sum === last) break;
    last = sum;
  }
  await pool.collect();
}

export interface FanoutResult {
  deliveries_per_s: number;
  messages_per_s: number;
  room_deliveries_per_s: number;
  /** First publish to last delivery. */
  seconds: number;
  status: string;
  published: number;
  lost: number;
  disconnected: number;
  publish_errors: number;
  /** % of one core over the measured window, per process group. */
  cpu_pct: Record<string, number>;
  /** Closed-loop queueing delay (bounded by the window): not the latency figure (see latencyRun). */
  latency_sampled: LatencySummary;
}

/**
 * Closed-loop fan-out: publishes bursts of `batch` messages as fast as the slowest client keeps
 * up, with at most `window` messages outstanding per client (so no system is pushed into its
 * backpressure path), for `warmupMs + durationMs`; then waits until every open client has every
 * message. The figure is all deliveries over the whole time, first publish to last delivery: it
 * does not depend on where bursts fall relative to a measuring window (at 20k clients one burst
 * takes seconds to reach everyone). Every system gets the same bursts (one HTTP request, one
 * Redis pipeline, or `batch` concurrent ingest requests): how many messages a server can
 * coalesce into one write per socket decides much of its cost.
 */
export async function fanoutRun(options: RunOptions & { window: number; batch: number; warmupMs: number; durationMs: number }): Promise<FanoutResult> {
  const { pool, publisher } = options;
  await pool.track('count', options.event, options.roomEvent);
  const sequencer = new Sequencer(options);
  let published = 0;
  let inflight = 0;
  let errors = 0;
  const start = performance.now();
  options.cpu.start();
  const publishUntil = start + options.warmupMs + options.durationMs;
  while (performance.now() < publishUntil) {
    const outstanding = published - pool.progress().min;
    if (options.window - outstanding >= options.batch && inflight < 1) {
      const count = options.batch;
      published += count;
      inflight += 1;
      publisher
        .send(sequencer.next(count))
        .catch(() => (errors += 1))
        .finally(() => (inflight -= 1));
      await new Promise((r) => setImmediate(r));
    } else {
      await pool.nextProgress(5);
    }
  }
  const completedAt = await drain(pool, published, 30_000);
  const end = completedAt ?? performance.now();
  const cpu = options.cpu.stop();
  const final = await pool.collect();
  const seconds = (end - start) / 1000;
  return {
    deliveries_per_s: Math.round(final.sum / seconds),
    messages_per_s: Math.round(published / seconds),
    room_deliveries_per_s: Math.round(final.room / seconds),
    seconds: Math.round(seconds * 100) / 100,
    status: completedAt === undefined ? `incomplete: ${published * final.open - final.sum} deliveries missing after 30 s` : 'ok',
    published,
    lost: Math.max(0, published * final.open - final.sum),
    disconnected: final.closedDuringRun,
    publish_errors: errors,
    cpu_pct: cpu,
    latency_sampled: summarize(final.histogram),
  };
}

export interface LatencyResult extends LatencySummary {
  rate_per_s: number;
  deliveries_per_s: number;
  published: number;
  lost: number;
  disconnected: number;
  publish_errors: number;
  /** `ok`, or why the run was cut short. */
  status: string;
  cpu_pct: Record<string, number>;
}

/**
 * Open-loop latency: publishes `rate` messages per second for `durationMs` and records
 * publish → delivery for every delivery. A run whose clients fall more than `maxBacklog`
 * messages behind is stopped early and reported as saturated (the system cannot sustain it).
 */
export async function latencyRun(options: RunOptions & { rate: number; durationMs: number; maxBacklog: number }): Promise<LatencyResult> {
  const { pool, publisher, rate } = options;
  await pool.track('latency', options.event);
  const sequencer = new Sequencer(options);
  let published = 0;
  let errors = 0;
  let status = 'ok';
  const start = performance.now();
  options.cpu.start();
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= options.durationMs) break;
    const due = Math.floor((elapsed * rate) / 1000) - published;
    if (due > 0) {
      published += due;
      publisher.send(sequencer.next(due)).catch(() => (errors += 1));
    }
    const p = pool.progress();
    const behind = published - (p.open > 0 ? p.sum / p.open : 0);
    if (elapsed > 200 && behind > options.maxBacklog) {
      status = `saturated: clients ${Math.round(behind)} messages behind after ${(elapsed / 1000).toFixed(1)} s`;
      break;
    }
    await sleep(1);
  }
  const cpu = options.cpu.stop();
  const sent = published;
  await drain(pool, sent, status === 'ok' ? 5_000 : 2_000);
  // Deliveries over the whole run, publishing and draining.
  const seconds = (performance.now() - start) / 1000;
  const final = await pool.collect();
  return {
    rate_per_s: rate,
    deliveries_per_s: Math.round(final.sum / seconds),
    published: sent,
    lost: Math.max(0, sent * final.open - final.sum),
    disconnected: final.closedDuringRun,
    publish_errors: errors,
    status,
    cpu_pct: cpu,
    ...summarize(final.histogram),
  };
}
