/**
 * Names shared by every process in the cluster: Redis keys, pub/sub channels and the
 * uWebSockets.js topics gateways fan out on. Changing one is a wire/storage migration.
 */

/** Prefix of every Redis key and channel Switchboard owns, so a shared Redis stays tidy. */
export const KEY_PREFIX = 'sb:';

/** The ingest stream (XADD by gateways or foreign producers, XREADGROUP by workers). */
export const INGEST_STREAM = `${KEY_PREFIX}ingest`;
/** Consumer group every worker joins (docs/architecture.md). */
export const INGEST_GROUP = 'workers';
/** Entries that could not be processed (bad envelope, invalid body) are copied here with a reason. */
export const INGEST_DEAD_LETTER_STREAM = `${KEY_PREFIX}ingest:dead`;

/** Pub/sub channels carrying ready-to-send client frames for the raw endpoints. */
export const CHANNELS = {
  analytics: `${KEY_PREFIX}ch:analytics`,
  availability: `${KEY_PREFIX}ch:availability`,
  /** Cluster performance figures for every `/ws/logs` client, whatever its app. */
  logsMetrics: `${KEY_PREFIX}ch:logs-metrics`,
} as const;

/**
 * One channel per application on `/ws/logs`: tenants are isolated by construction, a gateway
 * subscribes only to the apps its clients read, and each app numbers its own offsets.
 */
export const logsChannel = (appId: string): string => `${KEY_PREFIX}ch:logs:app:${appId}`;

/**
 * Where the keys of one key space live on a Redis Cluster:
 * - `{ channel }`: with that channel. Every key one commit writes shares the slot of the channel
 *   it publishes on, so the commit stays one atomic step on one shard.
 * - `{ own: true }`: where its name puts it (keys written alone: leases, sessions, markers of
 *   their own; the engine places ingest markers with the stream they guard).
 */
export type KeyPlacement = { channel: string; own?: undefined } | { own: true; channel?: undefined };

/** A family of state keys sharing a prefix, and where they live. */
interface KeySpace {
  prefix: string;
  /** The placement of the key `<prefix><rest>`. */
  place: (rest: string) => KeyPlacement;
}

const keySpaces: KeySpace[] = [];

/**
 * Declares a key space: every state key is built by a key space's `key`, so its placement is
 * declared where the key is named (no key can be added without one). Prefixes never nest, so a
 * key belongs to exactly one space.
 */
function keySpace(prefix: string, place: (rest: string) => KeyPlacement): { key: (rest: string) => string } {
  const full = `${KEY_PREFIX}${prefix}`;
  const clash = keySpaces.find((space) => space.prefix.startsWith(full) || full.startsWith(space.prefix));
  if (clash !== undefined) throw new Error(`key space ${full} overlaps ${clash.prefix}`);
  keySpaces.push({ prefix: full, place });
  return { key: (rest) => `${full}${rest}` };
}

const own = (): KeyPlacement => ({ own: true });
const withChannel = (channel: string) => (): KeyPlacement => ({ channel });

/** The placement a key's space declares; undefined for a name no key space built. */
export function keyPlacement(key: string): KeyPlacement | undefined {
  const space = keySpaces.find(({ prefix }) => key.startsWith(prefix));
  return space?.place(key.slice(space.prefix.length));
}

/**
 * On a Redis Cluster, the channel a state key lives with (see `KeyPlacement`); undefined for
 * keys left where their name puts them.
 */
export const keyRoute = (key: string): string | undefined => keyPlacement(key)?.channel;

/** Every key space: each state key constructor below builds its keys with one of these. */
const dedupeKeys = keySpace('ingest:dedupe:', own);
const heartbeatKeys = keySpace('heartbeat:', withChannel(CHANNELS.analytics));
const logMetricsKeys = keySpace('logs-metrics:', withChannel(CHANNELS.logsMetrics));
const leaseKeys = keySpace('lease:', own);
const jobKeys = keySpace('job:', () => ({ channel: socketIoChannel('/') }));
const sessionKeys = keySpace('socket.io:session:', own);
const analyticsKeys = keySpace('analytics:', withChannel(CHANNELS.analytics));
const logHistoryKeys = keySpace('logs:history:', (appId) => ({ channel: logsChannel(appId) }));
// Cluster-wide log rates and node figures are read together with the metrics push.
const logRateKeys = keySpace('logs:rate:', withChannel(CHANNELS.logsMetrics));
const nodeMetricsKeys = keySpace('metrics:', withChannel(CHANNELS.logsMetrics));

/**
 * Marker of one idempotent append to the ingest stream, holding what the first append answered
 * (event id, or the HTTP answer). `scope` names where the key came from, so producers never
 * collide: `http:<kind>:<producer>` for an `Idempotency-Key` header, `amqp:<queue>` for an AMQP
 * `messageId`. Keys stay bounded because their sources are: an `Idempotency-Key` is at most 200
 * characters (validated by the gateway), an AMQP messageId and queue name at most 255 bytes
 * (AMQP short strings), a producer a 16-hex-digit digest.
 */
export const ingestDedupeKey = (scope: string, key: string): string => dedupeKeys.key(`${scope}:${key}`);

/** Marker of one heartbeat slot: at most one heartbeat per slot, whichever worker wins. */
export const heartbeatSlotKey = (slot: number): string => heartbeatKeys.key(`slot:${slot}`);
/** Marker of one log-metrics push slot: at most one push per slot. */
export const logMetricsSlotKey = (slot: number): string => logMetricsKeys.key(`slot:${slot}`);
/** Lease key: the holder runs the heartbeat and the stream housekeeping. */
export const leaseKey = (name: string): string => leaseKeys.key(name);

/** The first owner a job's events named; only that user (or an admin) may follow the job. */
export const jobOwnerKey = (jobId: string): string => jobKeys.key(`${jobId}:owner`);
/** How long a job's owner is remembered after its last event. */
export const JOB_OWNER_TTL_S = 7 * 24 * 60 * 60;

/** The engine channel carrying a Socket.IO namespace's room operations (see socketio-adapter). */
export const socketIoChannel = (nsp: string): string => `${KEY_PREFIX}ch:socket.io:${nsp}`;
/** A disconnected Socket.IO session kept for connection state recovery, by private session id. */
export const socketIoSessionKey = (pid: string): string => sessionKeys.key(pid);

/** UTC calendar day, `YYYY-MM-DD`, used to bucket "today" statistics. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export const ANALYTICS_KEYS = {
  totalEvents: analyticsKeys.key('total_events'),
  /** Sorted set visitor_id → last seen (ms); current visitors = members seen in the window. */
  recentVisitors: analyticsKeys.key('recent_visitors'),
  /** HyperLogLog of visitor ids seen on that UTC day. */
  uniqueVisitors: (day: string) => analyticsKeys.key(`unique:${day}`),
  /** Counter of `letter_generated` events on that UTC day. */
  lettersGenerated: (day: string) => analyticsKeys.key(`letters:${day}`),
} as const;

export const LOGS_KEYS = {
  /** List of an app's LogEntry JSON, newest first, capped at LOG_HISTORY_LIMIT. */
  history: (appId: string) => logHistoryKeys.key(appId),
  /** Log entries processed in that unix second (cluster-wide message rate). */
  messages: (second: number) => logRateKeys.key(`messages:${second}`),
  /** Error-level log entries processed in that unix second (cluster-wide error rate). */
  errors: (second: number) => logRateKeys.key(`errors:${second}`),
} as const;

export const NODE_METRICS_KEYS = {
  /** Sorted set node id → time of its last report (ms). */
  nodes: nodeMetricsKeys.key('nodes'),
  /** A node's latest figures (JSON), expiring when the node stops reporting. */
  node: (nodeId: string) => nodeMetricsKeys.key(`node:${nodeId}`),
} as const;

/**
 * uWebSockets.js topic names. Socket.IO's attachApp subscribes its sockets to topics named
 * after namespaces and rooms ("/", "/\x1f<room>"), so raw topics start with a byte
 * sequence Socket.IO never produces (docs/architecture.md#libraries-and-their-pitfalls).
 */
export const RAW_TOPIC_PREFIX = '\x00raw:';
export const ANALYTICS_TOPICS = {
  /** Every analytics frame: unfiltered clients subscribe here only. */
  all: `${RAW_TOPIC_PREFIX}analytics:*`,
  /** Heartbeats, for clients with an event filter. */
  heartbeat: `${RAW_TOPIC_PREFIX}analytics:heartbeat`,
  /** Events of one type, for clients with an event filter. */
  eventType: (type: string) => `${RAW_TOPIC_PREFIX}analytics:type:${type}`,
} as const;

export const LOGS_TOPICS = {
  /** Log batches of one app, for its clients without a filter (filtered clients are sent to one by one). */
  app: (appId: string) => `${RAW_TOPIC_PREFIX}logs:app:${appId}`,
  /** Cluster metrics, for every authenticated `/ws/logs` client. */
  metrics: `${RAW_TOPIC_PREFIX}logs:metrics`,
} as const;

export const AVAILABILITY_TOPIC = `${RAW_TOPIC_PREFIX}availability`;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * On a Redis Cluster, the channel an ingest entry publishes on (its first, for a logs batch of
 * several apps), which picks its ingest partition. `body` gives the parsed entry body (asked for
 * only by the kinds routed by content); a body this cannot read is routed by its kind alone (the
 * worker dead-letters it anyway).
 */
export function ingestRoute(kind: string, body: () => unknown): string {
  switch (kind) {
    case 'analytics':
      return CHANNELS.analytics;
    case 'availability':
      return CHANNELS.availability;
    case 'logs':
    case 'logs_clear': {
      const value = body();
      const first: unknown = Array.isArray(value) ? value[0] : value;
      return isRecord(first) && typeof first['appId'] === 'string' ? logsChannel(first['appId']) : CHANNELS.logsMetrics;
    }
    default:
      return socketIoChannel('/');
  }
}
