import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { Commit, CommitGuard, CommitOutcome, IngestQueue, Store, StreamEntry } from '@switchboard/engine';
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
  commit?: Commit;
  reject?: { reason: 'invalid' | 'poison'; detail: string };
  error?: unknown;
}

const preparedOf = (entry: StreamEntry, kind: string, product: ProductResult): Prepared =>
  product.ok ? { entry, kind, commit: product.commit } : { entry, kind, reject: { reason: 'invalid', detail: product.error } };

/** One kind's counters. */
interface KindCounters {
  processed: Counter.Internal;
  invalid: Counter.Internal;
  poison: Counter.Internal;
  commit_error: Counter.Internal;
}

/** An entry delivered this many times without success is set aside instead of retried forever. */
export const MAX_DELIVERIES = 5;

/** Validates, applies and publishes ingest entries; never throws. */
export class EntryProcessor {
  constructor(
    private readonly engine: Store & Pick<IngestQueue, 'deadLetter'>,
    private readonly consumer: string,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
    private readonly settings: ProductSettings,
  ) {
    this.state = stateReader(engine);
  }

  private readonly state: StateReader;
  private readonly byKind = new Map<string, KindCounters>();

  /**
   * Prepares the entries concurrently (a product may read state first), then commits all of them
   * at once with `commitBatch`, in stream order: each channel's frames follow the stream's order
   * whichever product finished its reads first, and an entry refused stays pending alone.
   */
  async processAll(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const started = performance.now();
    // Most products build their commit without reading anything: no promise per entry then.
    const preparing = entries.map((entry) => this.prepareEntry(entry));
    const prepared = preparing.some((step) => step instanceof Promise) ? await Promise.all(preparing.map((step) => Promise.resolve(step))) : (preparing as Prepared[]);
    const committing = prepared.filter((step) => step.commit !== undefined);
    const settled: Promise<unknown>[] = [];
    for (const step of prepared) {
      if (step.error !== undefined) this.leftPending(step, step.error);
      else if (step.reject !== undefined) settled.push(this.reject(step, step.reject.reason, step.reject.detail));
    }
    if (committing.length > 0) settled.push(this.commitAll(committing));
    await Promise.all(settled);
    // Every entry of the batch took the batch's time: one clock reading for all of them.
    const seconds = (performance.now() - started) / 1000;
    for (let n = 0; n < prepared.length; n++) this.metrics.processSeconds.observe(seconds);
  }

  private async commitAll(steps: Prepared[]): Promise<void> {
    let outcomes: CommitOutcome[];
    try {
      outcomes = await this.engine.commitBatch(steps.map((step) => step.commit as Commit));
    } catch (err) {
      for (const step of steps) this.leftPending(step, err);
      return;
    }
    // Counted once per kind and batch, not per entry.
    const applied = new Map<string, number>();
    let duplicates = 0;
    steps.forEach((step, n) => {
      const outcome = outcomes[n];
      if (outcome === undefined || !outcome.ok) this.leftPending(step, outcome?.error);
      else if (outcome.result.applied) applied.set(step.kind, (applied.get(step.kind) ?? 0) + 1);
      else duplicates += 1;
    });
    for (const [kind, count] of applied) this.counters(kind).processed.inc(count);
    if (duplicates > 0) this.metrics.duplicates.inc(duplicates);
  }

  /** The kind's labelled counters, looked up once per kind. */
  private counters(kind: string): KindCounters {
    let counters = this.byKind.get(kind);
    if (counters === undefined) {
      const { processed, failed } = this.metrics;
      counters = {
        processed: processed.labels(kind),
        invalid: failed.labels(kind, 'invalid'),
        poison: failed.labels(kind, 'poison'),
        commit_error: failed.labels(kind, 'commit_error'),
      };
      this.byKind.set(kind, counters);
    }
    return counters;
  }

  /** Everything before the commit: never rejects (a failure is carried in the result). */
  private prepareEntry(entry: StreamEntry): Prepared | Promise<Prepared> {
    // A metric label: producer-chosen kinds would make one series each, without bound.
    const kind = metricKind(entry.fields['kind']);
    try {
      if (entry.deliveries > MAX_DELIVERIES) return { entry, kind, reject: { reason: 'poison', detail: `delivered ${entry.deliveries} times without success` } };
      const decoded = decodeEntry(entry);
      if (!decoded.ok) return { entry, kind, reject: { reason: 'invalid', detail: decoded.error } };
      const guard: CommitGuard = { kind: 'entry', streamId: entry.streamId, consumer: this.consumer };
      const product = this.prepare(decoded.value, guard);
      return product instanceof Promise
        ? product.then((result) => preparedOf(entry, kind, result), (err: unknown) => ({ entry, kind, error: err }))
        : preparedOf(entry, kind, product);
    } catch (err) {
      return { entry, kind, error: err };
    }
  }

  /** Left pending: this or another worker claims it again after the claim idle time. */
  private leftPending({ entry, kind }: Prepared, err: unknown): void {
    this.counters(kind).commit_error.inc();
    this.logger.warn({ err, streamId: entry.streamId }, 'ingest entry not processed; it stays pending');
  }

  /**
   * The product's commit. A read that fails (Redis away) leaves the entry pending, to be retried;
   * a product that throws on a valid entry would throw on every delivery: the entry is invalid
   * (dead-lettered at once), not worth retrying.
   */
  private prepare(entry: DecodedEntry, guard: CommitGuard): ProductResult | Promise<ProductResult> {
    const failed = (err: unknown): ProductResult => {
      if (err instanceof StateReadError) throw err.cause;
      this.logger.error({ err, kind: entry.kind, id: entry.id }, 'ingest entry passed validation but cannot be prepared');
      return { ok: false, error: `body: cannot be processed (${err instanceof Error ? err.message : String(err)})` };
    };
    try {
      const result = PRODUCTS[entry.kind](entry, guard, this.settings, this.state);
      return result instanceof Promise ? result.catch(failed) : result;
    } catch (err) {
      return failed(err);
    }
  }

  private async reject(step: Prepared, reason: 'invalid' | 'poison', detail: string): Promise<void> {
    const { entry, kind } = step;
    try {
      await this.engine.deadLetter(entry, detail);
    } catch (err) {
      this.leftPending(step, err);
      return;
    }
    this.counters(kind)[reason].inc();
    this.logger.warn({ streamId: entry.streamId, kind, reason: detail }, 'ingest entry dead-lettered');
  }

}
