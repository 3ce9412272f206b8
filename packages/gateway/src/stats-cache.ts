import type { Store } from '@switchboard/engine';
import { readAnalyticsStats } from '@switchboard/state';
import type { Stats } from '@switchboard/protocol';

/**
 * A cluster-wide read several clients ask for at once. Concurrent requests share one Redis round
 * trip, and values younger than `maxAgeMs` are reused, so a reconnect storm of thousands of
 * clients costs a handful of reads instead of thousands.
 */
export class ReadCache<T> {
  private value: { stats: T; at: number } | undefined;
  private inflight: Promise<T> | undefined;
  /** Bumped by invalidate(): a read started before it must not be cached after it. */
  private generation = 0;

  constructor(
    private readonly read: (now: number) => Promise<T>,
    private readonly maxAgeMs: number,
  ) {}

  get(): Promise<T> {
    const now = Date.now();
    if (this.value && now - this.value.at <= this.maxAgeMs) return Promise.resolve(this.value.stats);
    if (this.inflight) return this.inflight;
    const generation = this.generation;
    const reading = this.read(now)
      .then((stats) => {
        if (generation === this.generation) this.value = { stats, at: now };
        return stats;
      })
      .finally(() => {
        if (this.inflight === reading) this.inflight = undefined;
      });
    this.inflight = reading;
    return reading;
  }

  /**
   * Forgets the cached value and any read in flight: the next get() reads afresh. Called when
   * the data is known to have changed, so a reader never gets figures older than a change it
   * has already seen.
   */
  invalidate(): void {
    this.generation += 1;
    this.value = undefined;
    this.inflight = undefined;
  }
}

/** Statistics for `initial_stats` and `refresh_stats`. */
export class StatsCache extends ReadCache<Stats> {
  constructor(engine: Store, maxAgeMs = 100) {
    super((now) => readAnalyticsStats(engine, now), maxAgeMs);
  }
}
