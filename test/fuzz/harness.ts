import { readFileSync } from 'node:fs';
import jwt from 'jsonwebtoken';
import type { Redis } from 'ioredis';
import { RedisServer } from '../support/redis-server.js';
import { NodeProcess } from '../support/node-process.js';
import { FrameRecorder } from '../support/frame-recorder.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY } from '../integration/helpers.js';
import { frameProblem, type Endpoint } from './frames.js';

/**
 * Real processes for the fuzzers: a private redis-server, one gateway, one worker, configured so
 * that hostile input reaches validation rather than a rate limit, and with watchers on every raw
 * endpoint that record each frame the gateway sends.
 *
 * `SWITCHBOARD_FUZZ_CASES` (set by `npm run fuzz`) is the number of cases per endpoint; without
 * it each fuzzer runs its small default, fast enough for `npm test`.
 */
export const FUZZ_SECRET = 'fuzz-secret-fuzz-secret-fuzz-secret-00';
export const FUZZ_ISSUER = 'switchboard-fuzz';
export const FUZZ_APP = 'fuzz-app';
export const MAX_BODY_BYTES = 64 * 1024;
export const WS_MAX_PAYLOAD_BYTES = 256 * 1024;

const LONG_RUN = Number(process.env['SWITCHBOARD_FUZZ_CASES'] ?? '');
export const isLongRun = Number.isFinite(LONG_RUN) && LONG_RUN > 0;
/** Cases for one endpoint: the long run's count, or the fast default. */
export const casesFor = (fast: number): number => (isLongRun ? LONG_RUN : fast);
/** Generous per-test deadline: about 20 ms a case on a loaded machine, plus start-up. */
export const timeoutFor = (cases: number): number => 120_000 + cases * 20;

export const token = (claims: Record<string, unknown> = {}): string =>
  jwt.sign({ sub: 'fuzzer', apps: ['*'], ...claims }, FUZZ_SECRET, { algorithm: 'HS256', issuer: FUZZ_ISSUER, expiresIn: '2h' });

/** Resident set size of a process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Prints a line the long run shows as it goes (vitest passes console output through). */
export function progress(label: string, done: number, total: number, extra = ''): void {
  const step = Math.max(1, Math.floor(total / 10));
  if (isLongRun && (done % step === 0 || done === total)) console.log(`[fuzz] ${label}: ${done}/${total} cases${extra}`);
}

/** A recorder that is replaced when the server closes it, keeping every frame and close seen. */
export class Watcher {
  recorder!: FrameRecorder;
  readonly retired: FrameRecorder[] = [];
  readonly closes: number[] = [];

  constructor(
    readonly endpoint: Endpoint,
    private readonly open: () => Promise<FrameRecorder>,
  ) {}

  async start(): Promise<this> {
    this.recorder = await this.open();
    return this;
  }

  /** Reopens after a close by the server (an allowed close code is checked by the caller). */
  async ensureOpen(): Promise<void> {
    if (this.recorder.closed === undefined && this.recorder.ws.readyState <= 1) return;
    await waitFor(() => this.recorder.closed, { what: 'the close to be reported' });
    this.closes.push(this.recorder.closed?.code ?? 0);
    this.retired.push(this.recorder);
    this.recorder = await this.open();
  }

  all(): FrameRecorder[] {
    return [...this.retired, this.recorder];
  }

  frameCount(): number {
    return this.all().reduce((n, r) => n + r.texts.length, 0);
  }

  /** Frames that are not JSON objects, and frames a server would never send (forged or malformed). */
  problems(): { invalid: string[]; forged: string[] } {
    const texts = this.all().flatMap((r) => r.texts);
    const invalid: string[] = [];
    const forged: string[] = [];
    for (const text of texts) {
      const problem = frameProblem(this.endpoint, text);
      if (problem === 'invalid JSON') invalid.push(text.slice(0, 300));
      else if (problem !== undefined) forged.push(`${problem}: ${text.slice(0, 300)}`);
    }
    return { invalid, forged };
  }

  close(): void {
    for (const r of this.all()) r.close();
  }
}

export interface Figures {
  endpoint: string;
  cases: number;
  crashes: number;
  invalidFrames: number;
  forgedFrames: number;
  rssBeforeMiB: Record<string, number>;
  rssAfterMiB: Record<string, number>;
}

export class FuzzCluster {
  private constructor(
    readonly redisServer: RedisServer,
    readonly redis: Redis,
    readonly gateway: NodeProcess,
    readonly worker: NodeProcess,
  ) {}

  static async start(): Promise<FuzzCluster> {
    const redisServer = await RedisServer.start();
    const env = {
      REDIS_URL: redisServer.url,
      INGEST_API_KEYS: PRODUCER_KEY,
      JWT_SECRET: FUZZ_SECRET,
      JWT_ISSUER: FUZZ_ISSUER,
      AUTH_REQUIRED: 'true',
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      WS_MAX_PAYLOAD_BYTES: String(WS_MAX_PAYLOAD_BYTES),
      WS_RATE_LIMIT_PER_S: '100000',
      HEARTBEAT_INTERVAL_MS: '1000',
      INGEST_CLAIM_IDLE_MS: '2000',
      LOGS_AUTH_TIMEOUT_MS: '600000',
      LOG_LEVEL: 'error',
    };
    const [gateway, worker] = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('worker', env)]);
    return new FuzzCluster(redisServer, redisServer.client(), gateway, worker);
  }

  rss(): Record<string, number> {
    return { gateway: rssMiB(this.gateway.child.pid as number), worker: rssMiB(this.worker.child.pid as number) };
  }

  /** Crashed processes, and live ones whose `/livez` does not answer 200. */
  async crashes(): Promise<string[]> {
    const found: string[] = [];
    for (const node of [this.gateway, this.worker]) {
      if (node.child.exitCode !== null || node.child.signalCode !== null) {
        found.push(`${node.role} exited: ${node.output.slice(-5).join(' | ')}`);
        continue;
      }
      const status = await fetch(`${node.url}/livez`).then(
        (res) => res.status,
        () => 0,
      );
      if (status !== 200) found.push(`${node.role} /livez answered ${status}`);
    }
    return found;
  }

  /** A watcher on a raw endpoint, authenticated as the fuzzer. */
  watch(endpoint: Endpoint, { authenticate = true } = {}): Promise<Watcher> {
    const path = endpoint === 'logs' ? '/ws/logs' : `/ws/${endpoint}?token=${token()}`;
    return new Watcher(endpoint, async () => {
      const recorder = await FrameRecorder.connect(this.gateway.wsUrl(path));
      if (endpoint === 'logs' && authenticate) {
        recorder.send({ type: 'auth', data: { userId: 'fuzzer', appId: FUZZ_APP, token: token() } });
        await recorder.next((f) => f['type'] === 'auth_success', { what: 'auth_success' });
      }
      return recorder;
    }).start();
  }

  async stop(): Promise<void> {
    this.redis.disconnect();
    await Promise.all([this.gateway, this.worker].map((n) => n.stop('SIGKILL')));
    await this.redisServer.stop();
  }
}

/** One line per endpoint, and a JSON line a script can pick up. */
export function printFigures(figures: Figures): void {
  const rss = (r: Record<string, number>) => Object.entries(r).map(([k, v]) => `${k} ${v} MiB`).join(', ');
  console.log(
    `[fuzz] ${figures.endpoint}: ${figures.cases} cases, ${figures.crashes} crashes, ${figures.invalidFrames} invalid frames, ` +
      `${figures.forgedFrames} forged frames; RSS before ${rss(figures.rssBeforeMiB)}; after ${rss(figures.rssAfterMiB)}`,
  );
  console.log(`[fuzz:summary] ${JSON.stringify(figures)}`);
}

/** Memory stays bounded: each process ends within this margin of where it started. */
export const RSS_MARGIN_MIB = 256;
