import type { z } from 'zod';
import { envSchema, defaultNodeId, type RawEnv } from './schema.js';

/** Secrets that ship in examples and tutorials; production refuses them. */
const WELL_KNOWN_SECRETS = new Set(['secret', 'changeme', 'change-me', 'dev-secret', 'your-secret', 'jwt-secret', 'switchboard-dev-secret']);
const MIN_PRODUCTION_SECRET_LENGTH = 32;

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtConfig {
  /** HS256 secret or PEM public key. */
  key: string;
  /** Explicit allow-list passed to the verifier: never `none`. */
  algorithms: JwtAlgorithm[];
  issuer: string | undefined;
  audience: string | undefined;
}

/** The RabbitMQ bridge (role `bridge`, or `all` when RABBITMQ_URL is set). */
export interface RabbitMqConfig {
  url: string;
  /** Topic exchange the events are published to (declared durable). */
  exchange: string;
  routingKey: string;
  /** Durable queue the bridge consumes; shared by every bridge process (competing consumers). */
  queue: string;
  /** Where malformed messages go (`x-dead-letter-exchange` of the queue); unset = dropped, logged and counted. */
  deadLetterExchange: string | undefined;
  /** Unacknowledged messages in flight per bridge. */
  prefetch: number;
}

export interface Config {
  env: RawEnv['NODE_ENV'];
  production: boolean;
  port: number;
  host: string;
  nodeId: string;
  /** Unset (and no cluster nodes) → in-memory engine (single node). */
  redisUrl: string | undefined;
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES); exclusive with `redisUrl`. */
  redisClusterNodes: { host: string; port: number }[] | undefined;
  /** Ingest stream partitions on a Redis Cluster (INGEST_PARTITIONS); one stream on one Redis. */
  ingestPartitions: number;
  jwt: JwtConfig | undefined;
  authRequired: boolean;
  /** Empty → any origin (refused in production). */
  allowedOrigins: string[];
  /** Empty → anonymous ingest (refused in production). */
  ingestApiKeys: string[];
  heartbeatIntervalMs: number;
  logHistoryLimit: number;
  idleTimeoutS: number;
  maxConnections: number;
  maxBodyBytes: number;
  /** Open WebSocket and Socket.IO connections one client address may hold on this node; 0 = no cap. */
  maxConnectionsPerAddress: number;
  /** WebSocket upgrades and Socket.IO handshakes one client address may make per second; 0 = no limit. */
  upgradeRatePerAddress: number;
  /**
   * Upgrades one address may make beyond the rate in a burst (a gateway's clients moving over
   * behind one NAT); spent tokens come back at the rate. 0 = no burst.
   */
  upgradeBurstPerAddress: number;
  /** Addresses and CIDR blocks of proxies whose `X-Forwarded-For` is believed. */
  trustedProxies: string[];
  /** Share the listening port with other processes (SO_REUSEPORT) instead of refusing a taken port. */
  reusePort: boolean;
  /** Set when RABBITMQ_URL is. */
  rabbitmq: RabbitMqConfig | undefined;
  /** Nodes report their figures, and the cluster's are pushed to `/ws/logs`, this often. */
  logMetricsIntervalMs: number;
  /** A `/ws/logs` connection that has not authenticated this long after opening is closed. */
  logsAuthTimeoutMs: number;
  /** `/ws/availability` server ping period. */
  availabilityPingIntervalMs: number;
  logLevel: RawEnv['LOG_LEVEL'];
  /** `pretty` lines for people, `json` for collectors, `auto`: pretty on a terminal only. */
  logFormat: RawEnv['LOG_FORMAT'];
  wsMaxPayloadBytes: number;
  wsMaxBackpressureBytes: number;
  wsRateLimitPerS: number;
  ingestClaimIdleMs: number;
  /** Frames each channel keeps for resuming clients (HISTORY_SIZE). */
  historySize: number;
  /** Seconds a channel's history lives after its last frame (HISTORY_TTL_S). */
  historyTtlS: number;
  /** How long an ingest dedupe key (HTTP `Idempotency-Key`, AMQP messageId) is remembered. */
  idempotencyTtlS: number;
  shutdownTimeoutMs: number;
  /** Time between readiness turning 503 and the listener closing (load balancers catch up). */
  drainDelayMs: number;
  /** The server API under `/api/v1` (issue 15). */
  serverApi: ServerApiConfig;
  /** Presence: who is connected to each channel (issue 15). */
  presence: PresenceConfig;
  /** MAX_CONNECTIONS_PER_USER: connections one user may hold across the cluster; 0 = no limit. */
  maxConnectionsPerUser: number;
}

export interface PresenceConfig {
  /** PRESENCE_ENABLED: false tracks no connection and answers clients' presence messages with an error. */
  enabled: boolean;
  /** PRESENCE_TTL_S: a member not refreshed this long (its gateway died) expires. */
  ttlS: number;
  /** PRESENCE_GRACE_S: a leave waits this long for the client to come back. */
  graceS: number;
}

/** Who may call the server API: holders of the admin token, JWTs with the `admin` role, or (development only) anyone. */
export interface ServerApiConfig {
  /** ADMIN_TOKEN; unset → only JWTs whose `roles` include `admin`. */
  adminToken: string | undefined;
  /** ADMIN_API_ANONYMOUS: no credential needed (refused in production). */
  anonymous: boolean;
}

/** One bad environment variable and what is wrong with it. */
export interface ConfigProblem {
  variable: string;
  reason: string;
}

/** Every problem found in the environment (not only the first), so one start names them all. */
export class ConfigError extends Error {
  /** The first problem's variable and reason. */
  readonly variable: string;
  readonly reason: string;

  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => `${p.variable}: ${p.reason}`).join('; '));
    this.name = 'ConfigError';
    this.variable = problems[0]?.variable ?? 'environment';
    this.reason = problems[0]?.reason ?? 'invalid value';
  }
}

export interface LoadOptions {
  /**
   * The process role (`all`, `gateway`, `worker`, `bridge`): every role but `all` needs REDIS_URL
   * or REDIS_CLUSTER_NODES,
   * and `bridge` needs RABBITMQ_URL. Unset: no role requirements.
   */
  role?: string;
}

/**
 * Reads and validates the environment. Throws a ConfigError listing every bad variable, each
 * as `VARIABLE: what is wrong`; the CLI prints one line per problem and exits.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, { role }: LoadOptions = {}): Config {
  // Each variable on its own, so one bad value does not hide the next.
  const problems: ConfigProblem[] = [];
  const values: Record<string, unknown> = {};
  for (const [variable, schema] of Object.entries(envSchema.shape)) {
    const parsed = (schema as z.ZodType).safeParse(env[variable]);
    if (parsed.success) values[variable] = parsed.data;
    else problems.push({ variable, reason: parsed.error.issues[0]?.message ?? 'invalid value' });
  }
  const raw = values as RawEnv;
  const ok = (variable: keyof RawEnv) => !problems.some((p) => p.variable === variable);
  const refuse = (variable: string, reason: string) => problems.push({ variable, reason });
  const production = raw.NODE_ENV === 'production';

  if (raw.REDIS_CLUSTER_NODES !== undefined && raw.REDIS_URL !== undefined) {
    refuse('REDIS_CLUSTER_NODES', 'set either REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both');
  }
  if (raw.JWT_SECRET !== undefined && raw.JWT_PUBLIC_KEY !== undefined) {
    refuse('JWT_PUBLIC_KEY', 'set either JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both');
  }
  const noRedis = raw.REDIS_URL === undefined && raw.REDIS_CLUSTER_NODES === undefined && ok('REDIS_URL') && ok('REDIS_CLUSTER_NODES');
  if (role !== undefined && role !== 'all' && noRedis) {
    refuse('REDIS_URL', `required for the ${role} role, or REDIS_CLUSTER_NODES (without Redis, run the all role: gateway and worker in one process)`);
  }
  if (role === 'bridge' && raw.RABBITMQ_URL === undefined && ok('RABBITMQ_URL')) refuse('RABBITMQ_URL', 'required for the bridge role');

  const jwt: JwtConfig | undefined =
    raw.JWT_SECRET !== undefined
      ? { key: raw.JWT_SECRET, algorithms: ['HS256'], issuer: raw.JWT_ISSUER, audience: raw.JWT_AUDIENCE }
      : raw.JWT_PUBLIC_KEY !== undefined
        ? { key: raw.JWT_PUBLIC_KEY, algorithms: ['RS256', 'ES256'], issuer: raw.JWT_ISSUER, audience: raw.JWT_AUDIENCE }
        : undefined;

  // Secure by default in production: clients must authenticate unless told otherwise.
  const authRequired = raw.AUTH_REQUIRED ?? production;

  if (authRequired && jwt === undefined && ok('JWT_PUBLIC_KEY')) {
    refuse('AUTH_REQUIRED', 'authentication is required but neither JWT_SECRET nor JWT_PUBLIC_KEY is set');
  }
  if (production) {
    if (raw.JWT_SECRET !== undefined && (WELL_KNOWN_SECRETS.has(raw.JWT_SECRET.toLowerCase()) || raw.JWT_SECRET.length < MIN_PRODUCTION_SECRET_LENGTH)) {
      refuse('JWT_SECRET', `refused in production: a default or short secret (use at least ${MIN_PRODUCTION_SECRET_LENGTH} random characters)`);
    }
    if (ok('ALLOWED_ORIGINS') && (raw.ALLOWED_ORIGINS.length === 0 || raw.ALLOWED_ORIGINS.includes('*'))) {
      refuse('ALLOWED_ORIGINS', 'refused in production: an open origin list (list the allowed origins)');
    }
    if (raw.INGEST_API_KEYS.length === 0) {
      refuse('INGEST_API_KEYS', 'refused in production: anonymous ingest (set at least one producer key)');
    } else if (raw.INGEST_API_KEYS.some((key) => key.length < 16)) {
      refuse('INGEST_API_KEYS', 'refused in production: keys shorter than 16 characters');
    }
  }
  // Server API (issue 15): never open by default, never open in production.
  if (production && raw.ADMIN_API_ANONYMOUS) refuse('ADMIN_API_ANONYMOUS', 'refused in production: an anonymous server API');
  if (production && raw.ADMIN_TOKEN !== undefined && raw.ADMIN_TOKEN.length < MIN_PRODUCTION_SECRET_LENGTH) {
    refuse('ADMIN_TOKEN', `refused in production: a short admin token (use at least ${MIN_PRODUCTION_SECRET_LENGTH} random characters)`);
  }
  if (!raw.PRESENCE_ENABLED && raw.MAX_CONNECTIONS_PER_USER > 0) {
    refuse('MAX_CONNECTIONS_PER_USER', 'needs presence (PRESENCE_ENABLED=false counts no connection)');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    env: raw.NODE_ENV,
    production,
    port: raw.PORT,
    host: raw.HOST,
    nodeId: raw.NODE_ID ?? defaultNodeId(),
    redisUrl: raw.REDIS_URL,
    redisClusterNodes: raw.REDIS_CLUSTER_NODES,
    ingestPartitions: raw.INGEST_PARTITIONS,
    jwt,
    authRequired,
    allowedOrigins: raw.ALLOWED_ORIGINS.includes('*') ? [] : raw.ALLOWED_ORIGINS,
    ingestApiKeys: raw.INGEST_API_KEYS,
    heartbeatIntervalMs: raw.HEARTBEAT_INTERVAL_MS,
    logHistoryLimit: raw.LOG_HISTORY_LIMIT,
    idleTimeoutS: raw.IDLE_TIMEOUT_S,
    maxConnections: raw.MAX_CONNECTIONS,
    maxBodyBytes: raw.MAX_BODY_BYTES,
    maxConnectionsPerAddress: raw.MAX_CONNECTIONS_PER_ADDRESS,
    upgradeRatePerAddress: raw.UPGRADE_RATE_PER_ADDRESS,
    upgradeBurstPerAddress: raw.UPGRADE_BURST_PER_ADDRESS,
    trustedProxies: raw.TRUSTED_PROXIES,
    reusePort: raw.REUSE_PORT,
    rabbitmq:
      raw.RABBITMQ_URL === undefined
        ? undefined
        : {
            url: raw.RABBITMQ_URL,
            exchange: raw.RABBITMQ_EXCHANGE,
            routingKey: raw.RABBITMQ_ROUTING_KEY,
            queue: raw.RABBITMQ_QUEUE,
            deadLetterExchange: raw.RABBITMQ_DEAD_LETTER_EXCHANGE,
            prefetch: raw.RABBITMQ_PREFETCH,
          },
    logMetricsIntervalMs: raw.LOG_METRICS_INTERVAL_MS,
    logsAuthTimeoutMs: raw.LOGS_AUTH_TIMEOUT_MS,
    availabilityPingIntervalMs: raw.AVAILABILITY_PING_INTERVAL_MS,
    logLevel: raw.LOG_LEVEL,
    logFormat: raw.LOG_FORMAT,
    wsMaxPayloadBytes: raw.WS_MAX_PAYLOAD_BYTES,
    wsMaxBackpressureBytes: raw.WS_MAX_BACKPRESSURE_BYTES,
    wsRateLimitPerS: raw.WS_RATE_LIMIT_PER_S,
    ingestClaimIdleMs: raw.INGEST_CLAIM_IDLE_MS,
    historySize: raw.HISTORY_SIZE,
    historyTtlS: raw.HISTORY_TTL_S,
    idempotencyTtlS: raw.IDEMPOTENCY_TTL_S,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    drainDelayMs: raw.DRAIN_DELAY_MS,
    serverApi: { adminToken: raw.ADMIN_TOKEN, anonymous: raw.ADMIN_API_ANONYMOUS },
    presence: { enabled: raw.PRESENCE_ENABLED, ttlS: raw.PRESENCE_TTL_S, graceS: raw.PRESENCE_GRACE_S },
    maxConnectionsPerUser: raw.MAX_CONNECTIONS_PER_USER,
  };
}
