import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { IntakeForward, IntakeQueue } from '@switchboard/engine';
import { retry, type BackoffOptions } from '@switchboard/runtime';

export interface IntakeOptions {
  /** The worker's consumer name: its ingest announcement covers the intake too. */
  consumer: string;
  /** Intake entries pending this long on any other consumer are taken (as for the ingest). */
  claimIdleMs: number;
  /** How often dead consumers' intake entries are looked for (the ingest consumer's pace). */
  takeOverEveryMs?: number;
  batchSize?: number;
  blockMs?: number;
}

/** Pauses between attempts while Redis is failing: short at first, at most 2 s. */
const BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 2_000 };

export type IntakeMetrics = ReturnType<typeof createIntakeMetrics>;

/** The intake's figures on the worker's /metrics (a Redis Cluster; zero elsewhere). */
export function createIntakeMetrics(registry: Registry, engine: IntakeQueue) {
  const backlogGauge = (name: string, help: string, pick: (b: { pending: number; lag: number | null }) => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        try {
          const backlog = await engine.intakeBacklog();
          const value = backlog === undefined ? 0 : pick(backlog);
          if (value !== null) this.set(value);
        } catch {
          // Redis away: keep the last value; readiness reports the outage.
        }
      },
    });
  return {
    forwarded: new Counter({
      name: 'switchboard_worker_intake_forwarded_total',
      help: 'Entries of the intake stream (sb:ingest on a Redis Cluster) this worker appended to their ingest partition.',
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'switchboard_worker_intake_dead_letters_total',
      help: 'Intake entries this worker could not route (a broken envelope), copied to the dead-letter stream.',
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'switchboard_worker_intake_duplicates_total',
      help: 'Intake entries found forwarded already (a worker died before acknowledging them): acknowledged, not appended again.',
      registers: [registry],
    }),
    lag: backlogGauge('switchboard_worker_intake_lag', 'Intake entries not yet delivered to any worker (cluster-wide).', (b) => b.lag),
    pending: backlogGauge('switchboard_worker_intake_pending', 'Intake entries delivered to a worker and not yet forwarded (cluster-wide).', (b) => b.pending),
  };
}

/**
 * Drains the intake stream of a Redis Cluster into the ingest partitions (the engine forwards
 * each entry once): reads new entries, and takes over those of dead workers and those left idle.
 * Does nothing on one Redis, where the intake stream is the ingest itself.
 */
export class IntakeForwarder {
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly stopSignal = new AbortController();

  constructor(
    private readonly engine: IntakeQueue,
    private readonly options: IntakeOptions,
    private readonly metrics: IntakeMetrics,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.running !== undefined || !this.engine.hasIntake) return;
    this.running = this.loop();
  }

  /** Stops reading; resolves once the batch in hand is forwarded. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let nextRecoverAt = 0;
    const { consumer, claimIdleMs, takeOverEveryMs = 400, batchSize = 200 } = this.options;
    // A blocked read must not hold the takeover of a dead worker's entries back.
    const blockMs = Math.min(this.options.blockMs ?? 1_000, takeOverEveryMs);
    while (!this.stopping) {
      try {
        await retry(
          async () => {
            if (Date.now() >= nextRecoverAt) {
              const recovered = await this.engine.recoverIntake(consumer, claimIdleMs, batchSize);
              this.count(recovered);
              if (recovered.consumers.length > 0) this.logger.info({ consumers: recovered.consumers }, 'took over the intake entries of workers no longer alive');
              nextRecoverAt = recovered.forwarded + recovered.duplicates + recovered.deadLettered >= batchSize ? 0 : Date.now() + takeOverEveryMs;
            }
            this.count(await this.engine.forwardIntake(consumer, batchSize, blockMs));
          },
          {
            ...BACKOFF,
            signal: this.stopSignal.signal,
            onFailure: (err, failures) => {
              if (failures === 1 || failures % 10 === 0) this.logger.warn({ err, failures }, 'intake forwarding failed; retrying');
            },
          },
        );
      } catch {
        // Only when stopping: `retry` gives up then.
      }
    }
  }

  private count({ forwarded, duplicates, deadLettered }: IntakeForward): void {
    this.metrics.forwarded.inc(forwarded);
    this.metrics.duplicates.inc(duplicates);
    this.metrics.deadLettered.inc(deadLettered);
  }
}
