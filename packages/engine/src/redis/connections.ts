import { Cluster, Redis, type ChainableCommander, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/** One Redis Cluster node to start from (the client discovers the others). */
export interface ClusterNode {
  host: string;
  port: number;
}

/** A connection to one Redis or to a Redis Cluster: the engine issues the same commands to both. */
export type Client = Redis | Cluster;

/**
 * An ioredis client with Switchboard's conventions: connects on demand, retries with capped
 * backoff until told the owner closed, and logs each distinct connection error once.
 */
export function createRedisClient(
  url: string,
  logger: Logger,
  connection: string,
  { isClosed = () => false, ...extra }: RedisOptions & { isClosed?: () => boolean } = {},
): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    connectionName: `switchboard-${connection}`,
    retryStrategy: (attempt) => (isClosed() ? null : Math.min(attempt * 100, 2_000)),
    ...extra,
  });
  let lastError = '';
  client.on('error', (err: Error) => {
    // ioredis emits an error per failed reconnect attempt: log each distinct one once.
    if (err.message !== lastError) logger.warn({ err, connection }, 'redis connection error');
    lastError = err.message;
  });
  client.on('ready', () => {
    if (lastError !== '') logger.info({ connection }, 'redis connection restored');
    lastError = '';
  });
  return client;
}

/**
 * An ioredis Cluster client with the same conventions as `createRedisClient`; `redisOptions` go
 * to every node connection. MOVED/ASK redirections and NOSCRIPT on a promoted master are handled
 * by ioredis (defined commands fall back from EVALSHA to EVAL).
 */
export function createClusterClient(
  nodes: ClusterNode[],
  logger: Logger,
  connection: string,
  { isClosed = () => false, redisOptions = {}, ...extra }: ClusterOptions & { isClosed?: () => boolean } = {},
): Cluster {
  const client = new Cluster(nodes, {
    lazyConnect: true,
    clusterRetryStrategy: (attempt) => (isClosed() ? null : Math.min(attempt * 100, 2_000)),
    // A failover takes a few seconds: keep retrying a slot without a master meanwhile.
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 300,
    ...extra,
    redisOptions: { connectionName: `switchboard-${connection}`, ...redisOptions },
  });
  let lastError = '';
  const report = (err: Error) => {
    if (err.message !== lastError) logger.warn({ err, connection }, 'redis cluster connection error');
    lastError = err.message;
  };
  client.on('error', report);
  client.on('node error', report);
  client.on('ready', () => {
    if (lastError !== '') logger.info({ connection }, 'redis cluster connection restored');
    lastError = '';
  });
  return client;
}

/** Where an engine connects: one Redis (`url`) or a Redis Cluster (`cluster` seed nodes). */
export type ConnectionTarget = { url: string; cluster?: undefined } | { url?: undefined; cluster: ClusterNode[] };

/**
 * Opens an engine's connections, named `switchboard-<connection>`. `extra` applies to every
 * connection; `sharded` gives a cluster client its sharded subscribers. Connections stop
 * retrying once `isClosed` says the engine closed.
 */
export type ConnectionFactory = (connection: string, extra?: RedisOptions, sharded?: boolean) => Client;

export function connectionFactory(target: ConnectionTarget, logger: Logger, isClosed: () => boolean): ConnectionFactory {
  return (connection, extra = {}, sharded = false) => {
    if (target.cluster === undefined) {
      return createRedisClient(target.url, logger, connection, { ...extra, enableAutoPipelining: true, isClosed });
    }
    // No auto-pipelining on a cluster: ioredis refuses a batch whose keys span slots of
    // different nodes while the slot map changes (a failover), failing unrelated commands.
    return createClusterClient(target.cluster, logger, connection, { isClosed, shardedSubscribers: sharded, redisOptions: extra });
  };
}

/**
 * A view of `client` whose commands are sent together, in one pipeline, once the current turn
 * of the event loop ends (`setImmediate`), whatever earlier batches still wait for replies.
 * ioredis's auto-pipelining keeps one batch in flight per connection: concurrent requests (a
 * gateway's ingest appends) each wait out the round trip of the batch before theirs. Replies
 * and errors are each command's own, as on the client; scripts defined on the client work
 * (a pipeline loads a missing one first). One Redis only: a cluster's pipeline may not span
 * nodes.
 */
export function turnPipelined(client: Redis): Client {
  let pipeline: ChainableCommander | undefined;
  const flush = (): void => {
    const batch = pipeline;
    pipeline = undefined;
    // Each command's callback settles its own promise; exec's summary is not needed.
    void batch?.exec().catch(() => undefined);
  };
  const commands = new Map<string | symbol, (...args: unknown[]) => Promise<unknown>>();
  const command = (name: string | symbol) => (...args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (pipeline === undefined) {
        pipeline = client.pipeline();
        setImmediate(flush);
      }
      const issue = (pipeline as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[name];
      if (typeof issue !== 'function') throw new TypeError(`not a Redis command: ${String(name)}`);
      issue.call(pipeline, ...args, (err: Error | null, value: unknown) => (err ? reject(err) : resolve(value)));
    });
  return new Proxy(client, {
    get(target, name): unknown {
      const value: unknown = Reflect.get(target, name);
      if (typeof value !== 'function') return value;
      let bound = commands.get(name);
      if (bound === undefined) commands.set(name, (bound = command(name)));
      return bound;
    },
  });
}

/** Closes a client politely (QUIT), or drops it when that fails. */
export async function quit(client: Client): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
