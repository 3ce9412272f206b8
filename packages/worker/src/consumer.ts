import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import type { EntryProcessor } from './processor.js';

export interface ConsumerOptions {
  consumer: string;
  /** Entries pending this long on another (presumably dead) consumer are claimed. */
  claimIdleMs: number;
  batchSize?: number;
  blockMs?: number;
}

/**
 * Reads the ingest stream through the consumer group and hands entries to the processor;
 * periodically claims entries a dead worker left pending.
 */
export class IngestConsumer {
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly engine: Engine,
    private readonly processor: EntryProcessor,
    private readonly options: ConsumerOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  /** Stops reading; resolves once the batch in hand is processed. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    const { consumer, claimIdleMs, batchSize = 200, blockMs = 1_000 } = this.options;
    let nextClaimAt = 0;
    let failures = 0;
    while (!this.stopping) {
      try {
        if (Date.now() >= nextClaimAt) {
          const claimed = await this.engine.claimStaleIngest(consumer, claimIdleMs, batchSize);
          if (claimed.length > 0) this.logger.info({ count: claimed.length }, 'claimed entries left pending by another worker');
          await this.processor.processAll(claimed);
          // Keep claiming while there is a backlog of stale entries.
          nextClaimAt = claimed.length === batchSize ? 0 : Date.now() + Math.max(100, claimIdleMs / 2);
        }
        const entries = await this.engine.readIngest(consumer, batchSize, blockMs);
        await this.processor.processAll(entries);
        failures = 0;
      } catch (err) {
        if (this.stopping) break;
        failures += 1;
        const delay = Math.min(100 * 2 ** failures, 5_000);
        if (failures === 1 || failures % 10 === 0) this.logger.warn({ err, failures }, 'ingest read failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
