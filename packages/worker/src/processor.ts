import type { Logger } from 'pino';
import type { Commit, CommitGuard, Engine, StreamEntry } from '@switchboard/engine';
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

/** An entry ready to commit, to set aside, or whose preparation failed (left pending). */
interface Prepared {
  entry: StreamEntry;
  kind: string;
  stopTimer: () => void;
  commit?: Commit;
  reject?: { reason: 'invalid' | 'poison'; detail: string };
  error?: unknown;
}

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

  /**
   * Prepares the entries concurrently (a product may read state first) but issues their commits
   * in stream order: commits go out pipelined on one connection, so each channel's frames follow
   * the stream's order whichever product finished its reads first.
   */
  async processAll(entries: StreamEntry[]): Promise<void> {
    const prepared = entries.map((entry) => this.prepareEntry(entry));
    const finishing: Promise<void>[] = [];
    // Awaited in order: the commit of entry n is issued only once those before it were.
    for (const step of prepared) finishing.push(this.finish(await step));
    await Promise.all(finishing);
  }

  /** Everything before the commit: never rejects (a failure is carried to `finish`). */
  private async prepareEntry(entry: StreamEntry): Promise<Prepared> {
    const stopTimer = this.metrics.processSeconds.startTimer();
    // A metric label: producer-chosen kinds would make one series each, without bound.
    const kind = metricKind(entry.fields['kind']);
    const base = { entry, kind, stopTimer };
    try {
      if (entry.deliveries > MAX_DELIVERIES) return { ...base, reject: { reason: 'poison', detail: `delivered ${entry.deliveries} times without success` } };
      const decoded = decodeEntry(entry);
      if (!decoded.ok) return { ...base, reject: { reason: 'invalid', detail: decoded.error } };
      const guard: CommitGuard = { kind: 'entry', streamId: entry.streamId, consumer: this.consumer };
      const product = await this.prepare(decoded.value, guard);
      if (!product.ok) return { ...base, reject: { reason: 'invalid', detail: product.error } };
      return { ...base, commit: product.commit };
    } catch (err) {
      return { ...base, error: err };
    }
  }

  /** Issues the entry's commit (or dead letter) synchronously, then waits for its outcome. */
  private async finish(step: Prepared): Promise<void> {
    const { entry, kind } = step;
    try {
      if (step.error !== undefined) {
        this.leftPending(entry, kind, step.error);
        return;
      }
      if (step.reject !== undefined) {
        await this.reject(entry, kind, step.reject.reason, step.reject.detail);
        return;
      }
      if (step.commit === undefined) return;
      const result = await this.engine.commit(step.commit);
      if (result.applied) this.metrics.processed.inc({ kind });
      else this.metrics.duplicates.inc();
    } catch (err) {
      this.leftPending(entry, kind, err);
    } finally {
      step.stopTimer();
    }
  }

  /** Left pending: this or another worker claims it again after the claim idle time. */
  private leftPending(entry: StreamEntry, kind: string, err: unknown): void {
    this.metrics.failed.inc({ kind, reason: 'commit_error' });
    this.logger.warn({ err, streamId: entry.streamId }, 'ingest entry not processed; it stays pending');
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
