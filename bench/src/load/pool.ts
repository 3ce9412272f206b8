import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build, decodeFromCompressedBase64, type Histogram } from 'hdr-histogram-js';
import {
  HISTOGRAM,
  preciseNow,
  type ChurnReport,
  type ChurnStart,
  type ClientKind,
  type FromLoader,
  type MeasureMode,
  type Progress,
  type ToLoader,
} from './protocol.js';

/** Churn tallies summed over the load generators, histograms merged. */
export type ChurnTotals = Omit<ChurnReport, 'replay' | 'reconnect' | 'worst_missing'> & { worst_missing: number; replay: Histogram; reconnect: Histogram };

const LOADER = fileURLToPath(new URL('./loader.js', import.meta.url));
/** Most sockets one load-generator process holds (the per-process open-file limit is ~20k). */
export const MAX_SOCKETS_PER_LOADER = 15_000;

type Reply<K extends FromLoader['op']> = Extract<FromLoader, { op: K }>;

class Loader {
  private waiters: { op: string; resolve: (m: FromLoader) => void }[] = [];
  latest: Progress = { sum: 0, min: 0, room: 0, open: 0 };
  /** Clients this loader holds (asked for, whether or not they connected). */
  held = 0;

  constructor(
    private readonly child: ChildProcess,
    private readonly onProgress: () => void,
  ) {
    child.on('message', (message: FromLoader) => {
      if (message.op === 'progress') {
        this.latest = { sum: message.sum, min: message.min, room: message.room, open: message.open };
        this.onProgress();
        return;
      }
      const index = this.waiters.findIndex((w) => w.op === message.op);
      if (index >= 0) this.waiters.splice(index, 1)[0]!.resolve(message);
    });
  }

  request<K extends FromLoader['op']>(message: ToLoader, reply: K): Promise<Reply<K>> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null) return reject(new Error('load generator exited'));
      this.waiters.push({ op: reply, resolve: resolve as (m: FromLoader) => void });
      this.child.send(message);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  exit(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.send({ op: 'exit' } satisfies ToLoader);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    return exited.finally(() => clearTimeout(timer));
  }
}

export interface ConnectResult {
  ok: number;
  failed: number;
  ms: number;
  errors: string[];
}

/**
 * The harness's side of the load generators: spreads clients over the child processes, sums
 * their progress (and tracks the slowest client), merges their latency histograms.
 */
export class LoaderPool {
  private progressWaiters: (() => void)[] = [];

  private constructor(private readonly loaders: Loader[]) {}

  static async start(processes: number): Promise<LoaderPool> {
    const pool: LoaderPool = new LoaderPool([]);
    await Promise.all(
      Array.from({ length: processes }, async () => {
        const child = fork(LOADER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=4096'] });
        const loader = new Loader(child, () => pool.notify());
        await new Promise<void>((resolve, reject) => {
          child.once('message', () => resolve());
          child.once('exit', (code) => reject(new Error(`load generator exited with ${code}`)));
        });
        pool.loaders.push(loader);
      }),
    );
    return pool;
  }

  get pids(): number[] {
    return this.loaders.map((l) => l.pid).filter((p): p is number => p !== undefined);
  }

  get held(): number {
    return this.loaders.reduce((n, l) => n + l.held, 0);
  }

  private notify() {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next progress report from any loader (or after `ms`). */
  nextProgress(ms = 5): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.progressWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Adds `count` clients, spread evenly over the loaders and, within each, over `urls`. */
  async connect(kind: ClientKind, urls: string[], count: number, { concurrency = 200, deflate = false } = {}): Promise<ConnectResult> {
    const shares = this.split(count);
    const t0 = performance.now();
    const replies = await Promise.all(
      this.loaders.map((l, i) => {
        const share = shares[i]!;
        if (share === 0) return { ok: 0, failed: 0, ms: 0, errors: [] as string[] };
        if (l.held + share > MAX_SOCKETS_PER_LOADER) throw new Error(`a load generator would hold more than ${MAX_SOCKETS_PER_LOADER} sockets`);
        l.held += share;
        // Rotate the url list so clients alternate between targets across loaders too.
        const rotated = urls.map((_, j) => urls[(j + i) % urls.length]!);
        return l.request({ op: 'connect', kind, urls: rotated, count: share, concurrency, deflate }, 'connected');
      }),
    );
    return {
      ok: replies.reduce((n, r) => n + r.ok, 0),
      failed: replies.reduce((n, r) => n + r.failed, 0),
      ms: performance.now() - t0,
      errors: replies.flatMap((r) => r.errors).slice(0, 5),
    };
  }

  /** Closes clients until `remaining` are held, the same number from each loader. */
  async shrinkTo(remaining: number): Promise<void> {
    const keep = this.split(remaining);
    await Promise.all(
      this.loaders.map((l, i) => {
        const drop = l.held - keep[i]!;
        if (drop <= 0) return undefined;
        l.held -= drop;
        return l.request({ op: 'close', count: drop }, 'closed');
      }),
    );
  }

  /** Every Socket.IO client joins a room (`subscribe:service` with an acknowledgement). */
  async join(event: string, prefix: string, rooms: number): Promise<{ ok: number; failed: number; ms: number; acks: Histogram }> {
    const replies = await Promise.all(this.loaders.map((l) => l.request({ op: 'join', event, prefix, rooms, concurrency: 100 }, 'joined')));
    const acks = build(HISTOGRAM);
    for (const r of replies) acks.add(decodeFromCompressedBase64(r.histogram));
    return {
      ok: replies.reduce((n, r) => n + r.ok, 0),
      failed: replies.reduce((n, r) => n + r.failed, 0),
      ms: Math.max(...replies.map((r) => r.ms)),
      acks,
    };
  }

  /** Resets every counter; progress reported before the reset is discarded (IPC keeps order). */
  async track(mode: MeasureMode, event = 'error:new', roomEvent?: string, since = preciseNow()): Promise<void> {
    await Promise.all(
      this.loaders.map(async (l) => {
        const message: ToLoader = roomEvent === undefined ? { op: 'track', mode, event, since } : { op: 'track', mode, event, roomEvent, since };
        const { open } = await l.request(message, 'tracking');
        l.latest = { sum: 0, min: 0, room: 0, open };
      }),
    );
  }

  /** Latest totals: messages counted, the slowest open client's count, room messages, open clients. */
  progress(): Progress {
    let sum = 0;
    let room = 0;
    let open = 0;
    let min = Number.MAX_SAFE_INTEGER;
    for (const l of this.loaders) {
      sum += l.latest.sum;
      room += l.latest.room;
      open += l.latest.open;
      if (l.latest.open > 0) min = Math.min(min, l.latest.min);
    }
    return { sum, min: open === 0 ? 0 : min, room, open };
  }

  async collect(): Promise<Progress & { histogram: Histogram; closedDuringRun: number }> {
    const replies = await Promise.all(this.loaders.map((l) => l.request({ op: 'collect' }, 'collected')));
    const histogram = build(HISTOGRAM);
    for (const r of replies) histogram.add(decodeFromCompressedBase64(r.histogram));
    const open = replies.reduce((n, r) => n + r.open, 0);
    return {
      sum: replies.reduce((n, r) => n + r.sum, 0),
      room: replies.reduce((n, r) => n + r.room, 0),
      open,
      min: replies.filter((r) => r.open > 0).reduce((m, r) => Math.min(m, r.min), open === 0 ? 0 : Number.MAX_SAFE_INTEGER),
      histogram,
      closedDuringRun: replies.reduce((n, r) => n + r.closedDuringRun, 0),
    };
  }

  /** Connects `count` reconnecting clients (churn, rolling restart), spread over the loaders. */
  async churnConnect(options: Omit<ChurnStart, 'count'> & { count: number }): Promise<ConnectResult> {
    const shares = this.split(options.count);
    const t0 = performance.now();
    const replies = await Promise.all(
      this.loaders.map((l, i) => {
        const rotated = options.urls.map((_, j) => options.urls[(j + i) % options.urls.length]!);
        return l.request({ op: 'churn-connect', ...options, urls: rotated, count: shares[i]! }, 'churn-connected');
      }),
    );
    return {
      ok: replies.reduce((n, r) => n + r.ok, 0),
      failed: replies.reduce((n, r) => n + r.failed, 0),
      ms: performance.now() - t0,
      errors: replies.flatMap((r) => r.errors).slice(0, 5),
    };
  }

  async churnStart(since = preciseNow()): Promise<void> {
    await Promise.all(this.loaders.map((l) => l.request({ op: 'churn-start', since }, 'churn-started')));
  }

  async churnQuiet(): Promise<void> {
    await Promise.all(this.loaders.map((l) => l.request({ op: 'churn-quiet' }, 'churn-quieted')));
  }

  async churnStatus(): Promise<{ open: number; receipts: number }> {
    const replies = await Promise.all(this.loaders.map((l) => l.request({ op: 'churn-status' }, 'churn-status')));
    return { open: replies.reduce((n, r) => n + r.open, 0), receipts: replies.reduce((n, r) => n + r.receipts, 0) };
  }

  async churnReport(accepted: Uint8Array): Promise<ChurnTotals> {
    const text = Buffer.from(accepted).toString('base64');
    const replies = await Promise.all(this.loaders.map((l) => l.request({ op: 'churn-report', accepted: text }, 'churn-reported')));
    const sum = (k: keyof ChurnReport) => replies.reduce((n, r) => n + Number(r[k]), 0);
    const replay = build(HISTOGRAM);
    const reconnect = build(HISTOGRAM);
    for (const r of replies) {
      replay.add(decodeFromCompressedBase64(r.replay));
      reconnect.add(decodeFromCompressedBase64(r.reconnect));
    }
    return {
      clients: sum('clients'),
      open: sum('open'),
      expected_per_client: replies[0]?.expected_per_client ?? 0,
      delivered: sum('delivered'),
      duplicates: sum('duplicates'),
      complete_clients: sum('complete_clients'),
      worst_missing: Math.max(0, ...replies.map((r) => r.worst_missing)),
      drops: sum('drops'),
      reconnects: sum('reconnects'),
      server_closes: sum('server_closes'),
      recovered: sum('recovered'),
      not_recovered: sum('not_recovered'),
      replayed: sum('replayed'),
      failed_attempts: sum('failed_attempts'),
      attempt_errors: [...new Set(replies.flatMap((r) => r.attempt_errors))].slice(0, 5),
      replay,
      reconnect,
    };
  }

  async churnClose(): Promise<void> {
    await Promise.all(this.loaders.map((l) => l.request({ op: 'churn-close' }, 'churn-closed')));
  }

  async close(): Promise<void> {
    await Promise.all(this.loaders.map((l) => l.exit()));
  }

  private split(total: number): number[] {
    const n = this.loaders.length;
    return this.loaders.map((_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
  }
}
