/**
 * Delivery under disruption. Churn: every client drops its connection for `downMs` about every
 * `everyMs` while messages flow at a steady rate; what share of the accepted messages reached
 * every client, how many arrived twice, and how long after a client dialled again the last
 * message it had missed arrived (replay latency). Rolling restart: the same clients, no drops of
 * their own, while every gateway in turn is stopped (SIGTERM) and started again: how many
 * clients came back, how fast (server close → first frame of the new connection), and what they
 * lost.
 *
 * Every resume the clients saw answered `recovered:false` should have a documented cause: the
 * gateways count them by reason (docs/delivery.md), and the run reads those counters before and
 * after; what the clients saw and no gateway counted is `unexplained`.
 */
import type { ClientKind } from './load/protocol.js';
import type { ChurnTotals, LoaderPool } from './load/pool.js';
import { preciseNow } from './load/protocol.js';
import { sleep, type CpuMeter } from './lib/proc.js';
import type { Message, Publisher } from './publish.js';
import { summarize, type LatencySummary } from './runs.js';

export interface DisruptionOptions {
  pool: LoaderPool;
  publisher: Publisher;
  kind: ClientKind;
  urls: string[];
  clients: number;
  /** Raw clients resume with `?epoch&since` (Switchboard). */
  resume: boolean;
  /** Messages per second, one per publish. */
  rate: number;
  pad: string;
  cpu: CpuMeter;
  /** A line of progress now and then. */
  progress: (line: string) => void;
}

/** The loaders' counts as they come (summed over loaders). */
type CountedByLoaders = Pick<
  ChurnTotals,
  'duplicates' | 'complete_clients' | 'worst_missing' | 'drops' | 'reconnects' | 'server_closes' | 'recovered' | 'not_recovered' | 'replayed' | 'failed_attempts' | 'attempt_errors'
>;

export interface DisruptionResult extends CountedByLoaders {
  /**
   * The gateways' count of resumes answered `recovered:false` during the run, by reason; null
   * when the system has no such counter (the baselines).
   */
  not_recovered_by_reason: Record<string, number> | null;
  /** Client-seen `recovered:false` minus those the gateways counted by reason (0: all explained). */
  not_recovered_unexplained: number | null;
  clients: number;
  published: number;
  accepted: number;
  publish_errors: number;
  delivered_pct: number;
  lost: number;
  lost_per_client: number;
  reconnected_pct: number;
  replay: LatencySummary;
  reconnect: LatencySummary;
  still_open: number;
  seconds: number;
  cpu_pct: Record<string, number>;
  connect_failed: number;
}

/** Publishes `rate` messages per second (one per `send`), remembering which were accepted. */
class SteadyPublisher {
  readonly accepted = new Uint8Array(1 << 16);
  published = 0;
  acceptedCount = 0;
  errors = 0;
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DisruptionOptions) {}

  start(): void {
    const t0 = performance.now();
    const tick = () => {
      const due = Math.floor(((performance.now() - t0) * this.options.rate) / 1000) - this.published;
      for (let i = 0; i < due; i++) this.publishOne();
      this.timer = setTimeout(tick, 5);
    };
    tick();
  }

  private publishOne(): void {
    const seq = this.published++;
    if (seq >> 3 >= this.accepted.length) throw new Error('too many messages for one disruption run');
    const message: Message = { seq, t: preciseNow(), pad: this.options.pad, service: 'svc-0' };
    const p = this.options.publisher
      .send([message])
      .then(() => {
        this.accepted[seq >> 3]! |= 1 << (seq & 7);
        this.acceptedCount += 1;
      })
      .catch(() => {
        this.errors += 1;
      })
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await Promise.all([...this.inflight]);
  }

  /** The accepted bitset, trimmed to the messages published. */
  acceptedBits(): Uint8Array {
    return this.accepted.slice(0, (this.published >> 3) + 1);
  }
}

/** The gateways' counter of resumes answered `recovered:false`, by reason, for each client kind. */
const NOT_RECOVERED_METRIC: Record<ClientKind, string> = {
  ws: 'switchboard_resume_not_recovered_total',
  sio: 'switchboard_socketio_recovery_failures_total',
};

/**
 * Reads the gateways' not-recovered counters by reason, from the `/metrics` of the node each
 * client URL points at. A restarted gateway's counters start again from 0: `retire` reads one
 * right before it is stopped and keeps what it had counted.
 */
class NotRecoveredReasons {
  private readonly metric: string;
  private readonly metricsUrls: string[];
  /** The last reading of each gateway (by its index in `urls`), and what retired processes counted. */
  private readonly last: (Map<string, number> | undefined)[];
  private readonly retired = new Map<string, number>();
  private baseline = new Map<string, number>();
  private available = true;

  constructor(kind: ClientKind, urls: string[]) {
    this.metric = NOT_RECOVERED_METRIC[kind];
    this.metricsUrls = urls.map((u) => {
      const url = new URL(u);
      return `${url.protocol === 'wss:' || url.protocol === 'https:' ? 'https' : 'http'}://${url.host}/metrics`;
    });
    this.last = urls.map(() => undefined);
  }

  private async read(i: number): Promise<Map<string, number> | undefined> {
    try {
      const response = await fetch(this.metricsUrls[i]!, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) return undefined;
      const byReason = new Map<string, number>();
      for (const line of (await response.text()).split('\n')) {
        if (!line.startsWith(`${this.metric}{`)) continue;
        const reason = /reason="([^"]*)"/.exec(line)?.[1];
        const value = Number(line.slice(line.lastIndexOf(' ') + 1));
        if (reason !== undefined && Number.isFinite(value)) byReason.set(reason, (byReason.get(reason) ?? 0) + value);
      }
      return byReason;
    } catch {
      return undefined;
    }
  }

  /** Sums every gateway's counters (plus the retired processes'); undefined when one cannot be read. */
  private async total(): Promise<Map<string, number> | undefined> {
    const readings = await Promise.all(this.metricsUrls.map((_, i) => this.read(i)));
    const sum = new Map(this.retired);
    for (const [i, reading] of readings.entries()) {
      if (reading === undefined) return undefined;
      this.last[i] = reading;
      for (const [reason, n] of reading) sum.set(reason, (sum.get(reason) ?? 0) + n);
    }
    return sum;
  }

  async start(): Promise<void> {
    const total = await this.total();
    if (total === undefined) this.available = false;
    else this.baseline = total;
  }

  /** Gateway `i` is about to be stopped: keeps its counts (its next process starts from 0). */
  async retire(i: number): Promise<void> {
    const reading = (await this.read(i)) ?? this.last[i];
    for (const [reason, n] of reading ?? []) this.retired.set(reason, (this.retired.get(reason) ?? 0) + n);
    this.last[i] = undefined;
  }

  /** The counts of the run, by reason (zeros left out); null when the counters are not available. */
  async delta(): Promise<Record<string, number> | null> {
    const total = this.available ? await this.total() : undefined;
    if (total === undefined) return null;
    const delta: Record<string, number> = {};
    for (const [reason, n] of total) {
      const d = n - (this.baseline.get(reason) ?? 0);
      if (d !== 0) delta[reason] = d;
    }
    return delta;
  }
}

/** Waits until every client is connected again and no more messages arrive (bounded). */
async function settle(pool: LoaderPool, clients: number, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  let stableSince = performance.now();
  for (;;) {
    const s = await pool.churnStatus();
    if (s.receipts !== last) {
      last = s.receipts;
      stableSince = performance.now();
    }
    if (s.open >= clients && performance.now() - stableSince > 1500) return s.open;
    if (performance.now() > deadline) return s.open;
    await sleep(250);
  }
}

function result(
  r: ChurnTotals,
  pub: SteadyPublisher,
  connectFailed: number,
  seconds: number,
  cpu: Record<string, number>,
  byReason: Record<string, number> | null,
): DisruptionResult {
  const expected = r.expected_per_client * r.clients;
  const counted = byReason === null ? 0 : Object.values(byReason).reduce((a, b) => a + b, 0);
  const lost = Math.max(0, expected - r.delivered);
  const disrupted = r.drops + r.server_closes;
  return {
    clients: r.clients,
    published: pub.published,
    accepted: pub.acceptedCount,
    publish_errors: pub.errors,
    delivered_pct: expected === 0 ? 0 : Math.floor((r.delivered / expected) * 100_000) / 1000,
    lost,
    lost_per_client: r.clients === 0 ? 0 : Math.round((lost / r.clients) * 100) / 100,
    duplicates: r.duplicates,
    complete_clients: r.complete_clients,
    worst_missing: r.worst_missing,
    drops: r.drops,
    reconnects: r.reconnects,
    server_closes: r.server_closes,
    reconnected_pct: disrupted === 0 ? 100 : Math.floor((Math.min(r.reconnects, disrupted) / disrupted) * 100_000) / 1000,
    recovered: r.recovered,
    not_recovered: r.not_recovered,
    not_recovered_by_reason: byReason,
    not_recovered_unexplained: byReason === null ? null : r.not_recovered - counted,
    replayed: r.replayed,
    failed_attempts: r.failed_attempts,
    attempt_errors: r.attempt_errors,
    replay: summarize(r.replay),
    reconnect: summarize(r.reconnect),
    still_open: r.open,
    seconds: Math.round(seconds * 10) / 10,
    cpu_pct: cpu,
    connect_failed: connectFailed,
  };
}

async function withClients(
  options: DisruptionOptions,
  everyMs: number,
  downMs: number,
  during: (pub: SteadyPublisher, reasons: NotRecoveredReasons) => Promise<void>,
): Promise<DisruptionResult> {
  const { pool } = options;
  const connected = await pool.churnConnect({ kind: options.kind, urls: options.urls, count: options.clients, concurrency: 100, resume: options.resume, everyMs, downMs });
  if (connected.failed > 0) options.progress(`    ${connected.failed} of ${options.clients} clients failed to connect: ${connected.errors.join('; ')}`);
  try {
    await sleep(500);
    const reasons = new NotRecoveredReasons(options.kind, options.urls);
    await reasons.start();
    const pub = new SteadyPublisher(options);
    const t0 = performance.now();
    await pool.churnStart(preciseNow());
    options.cpu.start();
    pub.start();
    await during(pub, reasons);
    await pub.stop();
    await pool.churnQuiet();
    await settle(pool, connected.ok, 30_000);
    const cpu = options.cpu.stop();
    const totals = await pool.churnReport(pub.acceptedBits());
    const r = result(totals, pub, connected.failed, (performance.now() - t0) / 1000, cpu, await reasons.delta());
    options.progress(`    ${notRecoveredLine(r)}`);
    return r;
  } finally {
    await pool.churnClose();
  }
}

/** `recovered:false` as the clients saw it, by the gateways' reasons, and what is left unexplained. */
export function notRecoveredLine(r: Pick<DisruptionResult, 'not_recovered' | 'not_recovered_by_reason' | 'not_recovered_unexplained'>): string {
  if (r.not_recovered_by_reason === null) return `${r.not_recovered} recovered:false (no counters by reason on this system)`;
  const reasons = Object.entries(r.not_recovered_by_reason).map(([reason, n]) => `${reason} ${n}`);
  return `${r.not_recovered} recovered:false seen by clients; by reason: ${reasons.length === 0 ? 'none' : reasons.join(', ')}; unexplained ${r.not_recovered_unexplained}`;
}

/** Churn: clients drop for `downMs` about every `everyMs` while `rate` messages/s flow for `durationMs`. */
export async function churnRun(options: DisruptionOptions & { durationMs: number; everyMs: number; downMs: number }): Promise<DisruptionResult> {
  return withClients(options, options.everyMs, options.downMs, async (pub) => {
    const end = performance.now() + options.durationMs;
    while (end - performance.now() > 50) {
      await sleep(Math.min(5000, end - performance.now()));
      const s = await options.pool.churnStatus();
      options.progress(`    ${Math.round((options.durationMs - (end - performance.now())) / 1000)} s: ${pub.published} published, ${pub.acceptedCount} accepted, ${s.open}/${options.clients} clients connected`);
    }
  });
}

/**
 * Rolling restart: `restart(i)` stops gateway i (SIGTERM), starts it again and resolves once it
 * is ready; gateways go in turn, `pauseMs` apart, while messages flow.
 */
export async function restartRun(options: DisruptionOptions & { gateways: number; pauseMs: number; restart: (i: number) => Promise<void> }): Promise<DisruptionResult> {
  return withClients(options, 0, 0, async (pub, reasons) => {
    await sleep(options.pauseMs);
    for (let i = 0; i < options.gateways; i++) {
      const t = performance.now();
      // The clients' URLs are the gateways', in the same order.
      await reasons.retire(i);
      await options.restart(i);
      const s = await options.pool.churnStatus();
      options.progress(`    gateway ${i + 1} restarted in ${Math.round(performance.now() - t)} ms: ${pub.published} published, ${s.open}/${options.clients} clients connected`);
      await sleep(options.pauseMs);
    }
  });
}
