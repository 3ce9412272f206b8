import type { Logger } from 'pino';
import type { IngestQueue, StreamEntry } from '@switchboard/engine';
import { pause, retry, type BackoffOptions } from '@switchboard/runtime';
import type { WorkerMetrics } from './metrics.js';
import type { EntryProcessor } from './processor.js';

export interface ConsumerOptions {
  consumer: string;
  /**
   * Entries pending this long on any other consumer are claimed, whether it looks alive or not:
   * the fallback for a worker that announces itself but no longer makes progress.
   */
  claimIdleMs: number;
  /**
   * How long an announcement that this consumer is alive lasts (default 1.2 s). It is renewed
   * every third of that; the other workers look for consumers whose announcement ran out every
   * third of it too, and take over their entries: a killed worker's entries are taken over
   * within 1.2 + 0.4 s (a read blocks no longer than that third, so the look is never late).
   */
  aliveTtlMs?: number;
  batchSize?: number;
  /** How long a read waits for new entries (at most the period of the look for dead consumers). */
  blockMs?: number;
  /**
   * Under load, how long a batch waits before it commits, so that the next batch (read with
   * this one's commit) gathers more entries: each batch costs Redis and the worker a fixed
   * amount (a script call, its checks, a socket write), so fewer, bigger batches cost less per
   * event. Only a batch of at least `gatherFrom` entries waits (default 2 ms; 0: never).
   */
  gatherMs?: number;
  /** The batch size from which a batch waits `gatherMs` (default 4): a lone entry commits at once. */
  gatherFrom?: number;
}

const DEFAULT_ALIVE_TTL_MS = 1_200;
const DEFAULT_GATHER_MS = 2;
const DEFAULT_GATHER_FROM = 4;

/** When the loop next looks for dead consumers' entries and for stale ones. */
interface ClaimSchedule {
  nextTakeOverAt: number;
  nextClaimAt: number;
}
/** Pauses between attempts while Redis is failing: short at first, at most 2 s. */
const READ_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 2_000 };

/** A read's outcome, held until its batch's turn (a rejection must not wait unhandled). */
type ReadOutcome = { entries: StreamEntry[] } | { error: unknown };

/**
 * Reads the ingest stream through the consumer group and hands entries to the processor.
 * Announces that it is alive, takes over at once the entries of consumers that stopped
 * announcing (a worker killed mid-batch), and, as a fallback, claims entries left idle on any
 * consumer for `claimIdleMs`. Each entry is still applied once: the commit checks ownership.
 */
export class IngestConsumer {
  private running: Promise<void> | undefined;
  private stopping = false;
  /** Aborted at stop: cuts a retry pause short. */
  private readonly stopSignal = new AbortController();
  private consuming = false;
  private announceTimer: NodeJS.Timeout | undefined;
  private readonly aliveTtlMs: number;
  /** The next batch, read while the current one commits (see `cycle`). */
  private ahead: Promise<ReadOutcome> | undefined;

  constructor(
    private readonly engine: IngestQueue,
    private readonly processor: EntryProcessor,
    private readonly options: ConsumerOptions,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {
    this.aliveTtlMs = options.aliveTtlMs ?? DEFAULT_ALIVE_TTL_MS;
  }

  /** True once a read of the stream completed since the start or the last failure. */
  get isConsuming(): boolean {
    return this.consuming;
  }

  start(): void {
    if (this.running !== undefined) return;
    this.announceTimer = setInterval(() => void this.announce(), Math.max(50, Math.floor(this.aliveTtlMs / 3)));
    this.running = this.announce().then(() => this.loop());
  }

  /** Stops reading; resolves once the batch in hand is processed and the announcement withdrawn. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    clearInterval(this.announceTimer);
    await this.running;
    this.consuming = false;
    // Whatever is still pending here (a failed commit) is taken over at once by the others.
    await this.engine.withdrawConsumer(this.options.consumer).catch((err: unknown) => {
      this.logger.warn({ err }, 'cannot withdraw the consumer announcement; it runs out by itself');
    });
  }

  private async announce(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.engine.announceConsumer(this.options.consumer, this.aliveTtlMs);
    } catch (err) {
      // Redis away: the read loop reports the outage; others may take our entries meanwhile,
      // and our commits of them are then refused, never applied twice.
      this.logger.debug({ err }, 'consumer announcement failed');
    }
  }

  private async loop(): Promise<void> {
    const schedule: ClaimSchedule = { nextTakeOverAt: 0, nextClaimAt: 0 };
    const options = {
      ...READ_BACKOFF,
      signal: this.stopSignal.signal,
      onFailure: (err: unknown, failures: number) => {
        this.consuming = false;
        if (failures === 1 || failures % 10 === 0) this.logger.warn({ err, failures }, 'ingest read failed; retrying');
      },
    };
    while (!this.stopping) {
      try {
        await retry(() => this.cycle(schedule), options);
      } catch {
        // Only when stopping: `retry` gives up then.
        this.consuming = false;
      }
    }
    // A batch read ahead is in hand too: processed before stopping, not left to a takeover.
    const ahead = await this.ahead;
    this.ahead = undefined;
    if (ahead !== undefined && 'entries' in ahead) await this.processor.processAll(ahead.entries);
  }

  /** One pass: take over dead consumers' entries and claim stale ones when due, then read. */
  private async cycle(schedule: ClaimSchedule): Promise<void> {
    const { consumer, claimIdleMs, batchSize = 200 } = this.options;
    const takeOverEveryMs = Math.max(50, Math.floor(this.aliveTtlMs / 3));
    // A blocked read would hold the next look for dead consumers back.
    const blockMs = Math.min(this.options.blockMs ?? 1_000, takeOverEveryMs);
    if (Date.now() >= schedule.nextTakeOverAt) {
      const taken = await this.takeOver(batchSize);
      // Keep going while a dead consumer left more than one batch.
      schedule.nextTakeOverAt = taken === batchSize ? 0 : Date.now() + takeOverEveryMs;
    }
    if (Date.now() >= schedule.nextClaimAt) {
      const claimed = await this.engine.claimStaleIngest(consumer, claimIdleMs, batchSize);
      if (claimed.length > 0) this.logger.info({ count: claimed.length }, 'claimed entries left pending by another worker');
      await this.processor.processAll(claimed);
      schedule.nextClaimAt = claimed.length === batchSize ? 0 : Date.now() + Math.max(100, claimIdleMs / 2);
    }
    // After a failure (and at the start) read without blocking, so readiness reflects a
    // working read at once rather than after a blocked one returns.
    const ahead = await this.ahead;
    this.ahead = undefined;
    if (ahead !== undefined && 'error' in ahead) throw ahead.error;
    const entries = ahead?.entries ?? (await this.engine.readIngest(consumer, batchSize, this.consuming ? blockMs : 0));
    this.consuming = true;
    // A batch that shows load (but is not full) lets the next one gather a moment longer; the
    // pause is bounded, and a lone entry (a quiet stream) never waits.
    const { gatherMs = DEFAULT_GATHER_MS, gatherFrom = DEFAULT_GATHER_FROM } = this.options;
    if (gatherMs > 0 && entries.length >= gatherFrom && entries.length < batchSize && !this.stopping) await pause(gatherMs);
    // While entries keep coming, the next batch is read (without waiting) as this one commits:
    // on one Redis the read travels with the commit, one round trip per batch instead of two.
    // Batches still commit one after the other, in stream order. An empty read-ahead is
    // followed by a waiting read.
    if (entries.length > 0 && !this.stopping) {
      this.ahead = this.engine.readIngest(consumer, batchSize, 0).then(
        (read) => ({ entries: read }),
        (error: unknown) => ({ error }),
      );
    }
    await this.processor.processAll(entries);
  }

  /** Takes over and processes the entries of consumers no longer announced alive. */
  private async takeOver(batchSize: number): Promise<number> {
    const { consumers, entries } = await this.engine.takeOverDeadConsumers(this.options.consumer, batchSize);
    if (consumers.length === 0) return 0;
    this.metrics.takeovers.inc(consumers.length);
    this.metrics.entriesTakenOver.inc(entries.length);
    this.logger.info({ consumers, count: entries.length }, 'took over the entries of workers no longer alive');
    await this.processor.processAll(entries);
    return entries.length;
  }
}

