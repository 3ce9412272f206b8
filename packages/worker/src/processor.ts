import type { Logger } from 'pino';
import type { CommitGuard, Engine, StreamEntry } from '@switchboard/engine';
import { INGEST_KINDS, type IngestKind } from '@switchboard/protocol';
import { StateReadError, decodeEntry, stateReader, type DecodedEntry, type ProductResult, type ProductSettings, type StateReader } from './entry.js';
import type { WorkerMetrics } from './metrics.js';
import { analyticsCommit } from './products/analytics.js';
import { errorReportCommit } from './products/error-monitor.js';
import { jobEventCommit } from './products/jobs.js';
import { availabilityCommit } from './products/availability.js';
import { logsClearCommit, logsCommit } from './products/logs.js';

/** Each product turns a decoded entry into one atomic commit (reading state first when it must). */
const PRODUCTS: Record<IngestKind, (entry: DecodedEntry, guard: CommitGuard, settings: ProductSettings, state: StateReader) => ProductResult | Promise<ProductResult>> = {
  analytics: analyticsCommit,
  error: errorReportCommit,
  job: jobEventCommit,
  logs: logsCommit,
  logs_clear: logsClearCommit,
  availability: availabilityCommit,
};

const KINDS: ReadonlySet<string> = new Set(INGEST_KINDS);
const metricKind = (kind: string | undefined): string => (kind !== undefined && KINDS.has(kind) ? kind : 'unknown');

/** An entry delivered this many times without success is set aside instead of retried forever. */
export const MAX_DELIVERIES = 5;

/** Validates, applies and publishes ingest entries; never throws. */
export class EntryProcessor {
  constructor(
    private readonly engine: Engine,
    private readonly consumer: string,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
    private readonly settings: ProductSettings,
  ) {
    this.state = stateReader(engine);
  }

  private readonly state: StateReader;

  async processAll(entries: StreamEntry[]): Promise<void> {
    // Commits go out pipelined on one connection, so Redis still applies them in stream order.
    await Promise.all(entries.map((entry) => this.process(entry)));
  }

  async process(entry: StreamEntry): Promise<void> {
    const stopTimer = this.metrics.processSeconds.startTimer();
    // A metric label: producer-chosen kinds would make one series each, without bound.
    const kind = metricKind(entry.fields['kind']);
    try {
      if (entry.deliveries > MAX_DELIVERIES) {
        await this.reject(entry, kind, 'poison', `delivered ${entry.deliveries} times without success`);
        return;
      }
      const decoded = decodeEntry(entry);
      if (!decoded.ok) {
        await this.reject(entry, kind, 'invalid', decoded.error);
        return;
      }
      const guard: CommitGuard = { kind: 'entry', streamId: entry.streamId, consumer: this.consumer };
      const product = await this.prepare(decoded.value, guard);
      if (!product.ok) {
        await this.reject(entry, kind, 'invalid', product.error);
        return;
      }
      const result = await this.engine.commit(product.commit);
      if (result.applied) this.metrics.processed.inc({ kind });
      else this.metrics.duplicates.inc();
    } catch (err) {
      // Left pending: this or another worker claims it again after the claim idle time.
      this.metrics.failed.inc({ kind, reason: 'commit_error' });
      this.logger.warn({ err, streamId: entry.streamId }, 'ingest entry not processed; it stays pending');
    } finally {
      stopTimer();
    }
  }

  /**
   * The product's commit. A read that fails (Redis away) leaves the entry pending, to be retried;
   * a product that throws on a valid entry would throw on every delivery: the entry is invalid
   * (dead-lettered at once), not worth retrying.
   */
  private async prepare(entry: DecodedEntry, guard: CommitGuard): Promise<ProductResult> {
    try {
      return await PRODUCTS[entry.kind](entry, guard, this.settings, this.state);
    } catch (err) {
      if (err instanceof StateReadError) throw err.cause;
      this.logger.error({ err, kind: entry.kind, id: entry.id }, 'ingest entry passed validation but cannot be prepared');
      return { ok: false, error: `body: cannot be processed (${err instanceof Error ? err.message : String(err)})` };
    }
  }

  private async reject(entry: StreamEntry, kind: string, reason: 'invalid' | 'poison', detail: string): Promise<void> {
    this.metrics.failed.inc({ kind, reason });
    this.logger.warn({ streamId: entry.streamId, kind, reason: detail }, 'ingest entry dead-lettered');
    await this.engine.deadLetter(entry, detail);
  }
}
