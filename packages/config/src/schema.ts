import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';

/** true/false (also 1/0, yes/no); undefined when unset so callers can pick an environment-dependent default. */
const optionalBool = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const value = v?.trim().toLowerCase() ?? '';
    if (value === '') return undefined;
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    ctx.addIssue({ code: 'custom', message: 'expected true or false' });
    return z.NEVER;
  });

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      // Decimal digits only: Number() would also take 0x1F90 or 1e3.
      const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(v.slice(0, 40))}` });
        return z.NEVER;
      }
      return n;
    });

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const redisUrl = optionalString.refine((v) => v === undefined || /^rediss?:\/\/.+/.test(v), {
  message: 'expected a redis:// or rediss:// URL',
});

/** `host:port` of one Redis Cluster node (a name, an IPv4 address or a bracketed IPv6 address). */
const CLUSTER_NODE = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/** REDIS_CLUSTER_NODES: `host:port,...`, the seed nodes the cluster client discovers the rest from. */
const clusterNodes = list.transform((items, ctx) => {
  if (items.length === 0) return undefined;
  const nodes: { host: string; port: number }[] = [];
  for (const item of items) {
    const match = CLUSTER_NODE.exec(item);
    const port = Number(match?.[3]);
    if (match === null || !Number.isInteger(port) || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `expected host:port,... (port 1-65535), got ${JSON.stringify(item.slice(0, 60))}` });
      return z.NEVER;
    }
    nodes.push({ host: match[1] ?? match[2] ?? '', port });
  }
  return nodes;
});

/** PEM keys are often passed with literal "\n" in one-line environment values. */
const pem = optionalString
  .transform((v) => v?.replace(/\\n/g, '\n'))
  .refine((v) => v === undefined || v.includes('-----BEGIN'), { message: 'expected a PEM-encoded public key' });

const origins = list.refine((items) => items.every((o) => o === '*' || /^https?:\/\/[^/]+$/.test(o)), {
  message: 'expected comma-separated origins like https://app.example.com (scheme://host[:port], no path)',
});

/** uWebSockets.js aborts the process on an idleTimeout outside 0 or 8..960 (docs/architecture.md#libraries-and-their-pitfalls). */
const idleTimeout = int(120, 0, 960).refine((v) => v === 0 || v >= 8, {
  message: 'expected 0 (disabled) or 8 to 960 seconds',
});

/** An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
const isAddressOrCidr = (entry: string): boolean => {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
};

const addressList = list.refine((items) => items.every(isAddressOrCidr), {
  message: 'expected comma-separated IP addresses or CIDR blocks, like 10.0.0.0/8,127.0.0.1',
});

/** AMQP exchange and queue names; routing keys may also hold the topic wildcards `*` and `#`. */
const amqpName = <F extends string | undefined>(fallback: F, wildcards = false) =>
  optionalString
    .refine((v) => v === undefined || (wildcards ? /^[A-Za-z0-9_.:*#-]{1,255}$/ : /^[A-Za-z0-9_.:-]{1,255}$/).test(v), {
      message: `expected 1-255 letters, digits, '_', '-', '.' or ':'${wildcards ? " (and the wildcards '*', '#')" : ''}`,
    })
    .transform((v) => v ?? fallback);

/** Raw environment schema: keys are the variable names, so errors name the variable. */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test'], { error: 'expected development, production or test' }).default('development'),
  PORT: int(8080, 0, 65535),
  HOST: optionalString.transform((v) => v ?? '0.0.0.0'),
  NODE_ID: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9_.-]{1,64}$/.test(v), {
    message: "expected 1-64 letters, digits, '_', '-' or '.'",
  }),
  REDIS_URL: redisUrl,
  REDIS_CLUSTER_NODES: clusterNodes,
  /** Ingest stream partitions on a Redis Cluster (one stream and consumer group each). */
  INGEST_PARTITIONS: int(16, 1, 1024),
  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: pem,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  AUTH_REQUIRED: optionalBool,
  ALLOWED_ORIGINS: origins,
  INGEST_API_KEYS: list,
  HEARTBEAT_INTERVAL_MS: int(5000, 100, 3_600_000),
  LOG_HISTORY_LIMIT: int(1000, 1, 1_000_000),
  IDLE_TIMEOUT_S: idleTimeout,
  MAX_CONNECTIONS: int(100_000, 1, 10_000_000),
  MAX_BODY_BYTES: int(1024 * 1024, 1024, 64 * 1024 * 1024),
  // Per client address (issue 8): 0 turns either limit off.
  MAX_CONNECTIONS_PER_ADDRESS: int(1000, 0, 10_000_000),
  UPGRADE_RATE_PER_ADDRESS: int(200, 0, 1_000_000),
  /** Upgrades beyond the rate one address may make at once (as many as it may hold: a drain behind one NAT). */
  UPGRADE_BURST_PER_ADDRESS: int(1000, 0, 10_000_000),
  /** Peers whose `X-Forwarded-For` names the client (load balancers); anyone else is the client. */
  TRUSTED_PROXIES: addressList,
  /** Share the port with other processes (SO_REUSEPORT); by default a taken port stops the start. */
  REUSE_PORT: optionalBool.transform((v) => v ?? false),
  RABBITMQ_URL: optionalString.refine((v) => v === undefined || /^amqps?:\/\/.+/.test(v), {
    message: 'expected an amqp:// or amqps:// URL',
  }),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    error: 'expected fatal, error, warn, info, debug, trace or silent',
  }).default('info'),
  /** `auto`: readable lines on a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['auto', 'pretty', 'json'], { error: 'expected auto, pretty or json' }).default('auto'),
  // Tuning knobs beyond docs/configuration.md.
  WS_MAX_PAYLOAD_BYTES: int(64 * 1024, 1024, 16 * 1024 * 1024),
  WS_MAX_BACKPRESSURE_BYTES: int(1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
  WS_RATE_LIMIT_PER_S: int(50, 1, 100_000),
  INGEST_CLAIM_IDLE_MS: int(30_000, 100, 3_600_000),
  /** Frames each channel keeps for resuming clients, and how long after its last frame. */
  HISTORY_SIZE: int(1000, 1, 1_000_000),
  HISTORY_TTL_S: int(300, 1, 7 * 86_400),
  /** How long an ingest `Idempotency-Key` (or AMQP messageId) is remembered: 1 s to 30 days. */
  IDEMPOTENCY_TTL_S: int(86_400, 1, 30 * 86_400),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100, 600_000),
  DRAIN_DELAY_MS: int(0, 0, 300_000),
  // Log stream and availability products (issue 4).
  LOG_METRICS_INTERVAL_MS: int(5000, 100, 3_600_000),
  LOGS_AUTH_TIMEOUT_MS: int(10_000, 100, 600_000),
  AVAILABILITY_PING_INTERVAL_MS: int(30_000, 100, 3_600_000),
  RABBITMQ_EXCHANGE: amqpName('tour_booking_events'),
  RABBITMQ_ROUTING_KEY: amqpName('tour.availability.low', true),
  RABBITMQ_QUEUE: amqpName('switchboard.availability'),
  RABBITMQ_DEAD_LETTER_EXCHANGE: amqpName(undefined),
  RABBITMQ_PREFETCH: int(32, 1, 10_000),
  // Server API and presence (issue 15).
  /** The admin credential of the server API (`Authorization: Bearer <ADMIN_TOKEN>`); unset = JWT admins only. */
  ADMIN_TOKEN: optionalString,
  /** Serves the server API to anyone, without a credential (development only; refused in production). */
  ADMIN_API_ANONYMOUS: optionalBool.transform((v) => v ?? false),
  /** Presence on this gateway: its connections are tracked, and clients may ask for it (true by default). */
  PRESENCE_ENABLED: optionalBool.transform((v) => v ?? true),
  /** A member its gateway stopped refreshing (the gateway died) is gone after this long. */
  PRESENCE_TTL_S: int(30, 3, 3600),
  /** A client that reconnects within this long produces no leave (and no join). */
  PRESENCE_GRACE_S: int(15, 0, 3600),
  /** Connections one user (a JWT's `sub`) may hold across the cluster, counted through presence; 0 = no limit. */
  MAX_CONNECTIONS_PER_USER: int(0, 0, 1000),
});
export type RawEnv = z.output<typeof envSchema>;

export const defaultNodeId = (): string => hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'node';
