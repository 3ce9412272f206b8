import type { Metric, Registry } from 'prom-client';

export interface HotHistogramOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  buckets: readonly number[];
  registers: Registry[];
}

/** One sample as prom-client's registry formats it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

interface Series<L extends string> {
  labels: Record<L, string>;
  /** Observations per bucket (not cumulative); the last one is `+Inf`. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram for per-frame hot paths, exposed by the registry exactly like a
 * prom-client `Histogram`: an observation is a lookup of its series by label values and one
 * increment, where prom-client validates, copies and hashes the labels on every call (a tenth
 * of a gateway's CPU per fanned-out frame).
 */
export class HotHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, Series<L>>();
  /** Counts resets, so bound observers notice theirs dropped their series. */
  private generation = 0;

  constructor(options: HotHistogramOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** Adds an observation of `value` to the series of `labels`. */
  observe(labels: Record<L, string>, value: number): void {
    this.add(this.seriesOf(labels), value);
  }

  /**
   * The observer of one series, its labels looked up once: for a per-frame path whose labels
   * never change (an endpoint's), an observation is one bucket search and three increments.
   */
  bind(labels: Record<L, string>): (value: number) => void {
    let series = this.seriesOf(labels);
    let generation = this.generation;
    return (value) => {
      // A reset dropped the series: take the new one.
      if (generation !== this.generation) {
        series = this.seriesOf(labels);
        generation = this.generation;
      }
      this.add(series, value);
    };
  }

  private seriesOf(labels: Record<L, string>): Series<L> {
    let key = '';
    for (const name of this.labelNames) key += `${labels[name]}\u0000`;
    let series = this.series.get(key);
    if (series === undefined) {
      series = { labels: { ...labels }, counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    return series;
  }

  private add(series: Series<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`value is not a finite number: ${value}`);
    let bucket = 0;
    while (bucket < this.bounds.length && value > (this.bounds[bucket] as number)) bucket++;
    series.counts[bucket] = (series.counts[bucket] as number) + 1;
    series.sum += value;
    series.count += 1;
  }

  reset(): void {
    this.series.clear();
    this.generation += 1;
  }

  /** What prom-client's registry formats: cumulative `_bucket`s (`le` first), `_sum`, `_count`. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += counts[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
      });
      values.push(
        { metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: count },
        { metricName: `${this.name}_sum`, labels: { ...labels }, value: sum },
        { metricName: `${this.name}_count`, labels: { ...labels }, value: count },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
}
