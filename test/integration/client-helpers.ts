import jwt from 'jsonwebtoken';
import { NodeProcess } from '../support/node-process.js';
import { freePort } from '../support/ports.js';
import { RedisServer } from '../support/redis-server.js';
import { PRODUCER_KEY } from './helpers.js';

export const JWT_SECRET = 'client-sdk-test-secret-0123456789';

/** A signed token; `expiresIn` in seconds (negative: already expired). */
export const token = (claims: Record<string, unknown>, expiresIn = 300): string =>
  jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) + expiresIn }, JWT_SECRET);

/** Fast reconnects for tests: the gateway comes back within seconds. */
export const TEST_BACKOFF = { initialDelayMs: 100, maxDelayMs: 1_000, restartJitterMs: 200 };

/**
 * Redis, one gateway on a port that stays the same across restarts (clients reconnect to the
 * same URL), and a worker.
 */
export class ClientStack {
  private constructor(
    readonly redis: RedisServer,
    readonly env: Record<string, string>,
    readonly port: number,
    public gateway: NodeProcess,
    readonly worker: NodeProcess,
  ) {}

  static async start(extraEnv: Record<string, string> = {}): Promise<ClientStack> {
    const redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, JWT_SECRET, INGEST_API_KEYS: PRODUCER_KEY, LOG_LEVEL: 'warn', ...extraEnv };
    const port = await freePort();
    const [gateway, worker] = await Promise.all([NodeProcess.start('gateway', { ...env, PORT: String(port) }), NodeProcess.start('worker', env)]);
    return new ClientStack(redis, env, port, gateway, worker);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Ends the gateway (SIGKILL: a crash; SIGTERM: a drain that closes clients with 1012). */
  async stopGateway(signal: NodeJS.Signals): Promise<void> {
    await this.gateway.stop(signal);
  }

  /** A new gateway process on the same port. */
  async startGateway(): Promise<void> {
    this.gateway = await NodeProcess.start('gateway', { ...this.env, PORT: String(this.port) });
  }

  async stop(): Promise<void> {
    await Promise.all([this.gateway, this.worker].map((n) => n.stop('SIGKILL')));
    await this.redis.stop();
  }
}
