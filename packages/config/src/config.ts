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
  /** Unset → in-memory engine (single node). */
  redisUrl: string | undefined;
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
  rabbitmqUrl: string | undefined;
  /** Set when RABBITMQ_URL is. */
  rabbitmq: RabbitMqConfig | undefined;
  /** Nodes report their figures, and the cluster's are pushed to `/ws/logs`, this often. */
  logMetricsIntervalMs: number;
  /** A `/ws/logs` connection that has not authenticated this long after opening is closed. */
  logsAuthTimeoutMs: number;
  /** `/ws/availability` server ping period. */
  availabilityPingIntervalMs: number;
  logLevel: RawEnv['LOG_LEVEL'];
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
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads and validates the environment. Throws a ConfigError whose message is one line naming
 * the variable and what is wrong; the CLI prints it and exits.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const variable = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(variable, issue?.message ?? 'invalid value');
  }
  const raw = parsed.data;
  const production = raw.NODE_ENV === 'production';

  if (raw.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'Redis Cluster is not supported by this release; use REDIS_URL');
  }
  if (raw.JWT_SECRET !== undefined && raw.JWT_PUBLIC_KEY !== undefined) {
    throw new ConfigError('JWT_PUBLIC_KEY', 'set either JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both');
  }

  const jwt: JwtConfig | undefined =
    raw.JWT_SECRET !== undefined
      ? { key: raw.JWT_SECRET, algorithms: ['HS256'], issuer: raw.JWT_ISSUER, audience: raw.JWT_AUDIENCE }
      : raw.JWT_PUBLIC_KEY !== undefined
        ? { key: raw.JWT_PUBLIC_KEY, algorithms: ['RS256', 'ES256'], issuer: raw.JWT_ISSUER, audience: raw.JWT_AUDIENCE }
        : undefined;

  // Secure by default in production: clients must authenticate unless told otherwise.
  const authRequired = raw.AUTH_REQUIRED ?? production;

  if (authRequired && jwt === undefined) {
    throw new ConfigError('AUTH_REQUIRED', 'authentication is required but neither JWT_SECRET nor JWT_PUBLIC_KEY is set');
  }
  if (production) {
    if (raw.JWT_SECRET !== undefined && (WELL_KNOWN_SECRETS.has(raw.JWT_SECRET.toLowerCase()) || raw.JWT_SECRET.length < MIN_PRODUCTION_SECRET_LENGTH)) {
      throw new ConfigError('JWT_SECRET', `refused in production: a default or short secret (use at least ${MIN_PRODUCTION_SECRET_LENGTH} random characters)`);
    }
    if (raw.ALLOWED_ORIGINS.length === 0 || raw.ALLOWED_ORIGINS.includes('*')) {
      throw new ConfigError('ALLOWED_ORIGINS', 'refused in production: an open origin list (list the allowed origins)');
    }
    if (raw.INGEST_API_KEYS.length === 0) {
      throw new ConfigError('INGEST_API_KEYS', 'refused in production: anonymous ingest (set at least one producer key)');
    }
    if (raw.INGEST_API_KEYS.some((key) => key.length < 16)) {
      throw new ConfigError('INGEST_API_KEYS', 'refused in production: keys shorter than 16 characters');
    }
  }

  return {
    env: raw.NODE_ENV,
    production,
    port: raw.PORT,
    host: raw.HOST,
    nodeId: raw.NODE_ID ?? defaultNodeId(),
    redisUrl: raw.REDIS_URL,
    jwt,
    authRequired,
    allowedOrigins: raw.ALLOWED_ORIGINS.includes('*') ? [] : raw.ALLOWED_ORIGINS,
    ingestApiKeys: raw.INGEST_API_KEYS,
    heartbeatIntervalMs: raw.HEARTBEAT_INTERVAL_MS,
    logHistoryLimit: raw.LOG_HISTORY_LIMIT,
    idleTimeoutS: raw.IDLE_TIMEOUT_S,
    maxConnections: raw.MAX_CONNECTIONS,
    maxBodyBytes: raw.MAX_BODY_BYTES,
    rabbitmqUrl: raw.RABBITMQ_URL,
    rabbitmq:
      raw.RABBITMQ_URL === undefined
        ? undefined
        : {
            url: raw.RABBITMQ_URL,
            exchange: raw.RABBITMQ_EXCHANGE ?? 'tour_booking_events',
            routingKey: raw.RABBITMQ_ROUTING_KEY ?? 'tour.availability.low',
            queue: raw.RABBITMQ_QUEUE ?? 'switchboard.availability',
            deadLetterExchange: raw.RABBITMQ_DEAD_LETTER_EXCHANGE,
            prefetch: raw.RABBITMQ_PREFETCH,
          },
    logMetricsIntervalMs: raw.LOG_METRICS_INTERVAL_MS,
    logsAuthTimeoutMs: raw.LOGS_AUTH_TIMEOUT_MS,
    availabilityPingIntervalMs: raw.AVAILABILITY_PING_INTERVAL_MS,
    logLevel: raw.LOG_LEVEL,
    wsMaxPayloadBytes: raw.WS_MAX_PAYLOAD_BYTES,
    wsMaxBackpressureBytes: raw.WS_MAX_BACKPRESSURE_BYTES,
    wsRateLimitPerS: raw.WS_RATE_LIMIT_PER_S,
    ingestClaimIdleMs: raw.INGEST_CLAIM_IDLE_MS,
    historySize: raw.HISTORY_SIZE,
    historyTtlS: raw.HISTORY_TTL_S,
    idempotencyTtlS: raw.IDEMPOTENCY_TTL_S,
    shutdownTimeoutMs: raw.SHUTDOWN_TIMEOUT_MS,
    drainDelayMs: raw.DRAIN_DELAY_MS,
  };
}
