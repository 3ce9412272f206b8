import { connect } from 'node:net';

/** What a start-up failure says to the operator: one line, without a stack. */
type Errno = Error & { code?: unknown; port?: unknown; address?: unknown };

const REDIS_PROBE_TIMEOUT_MS = 3_000;

/** host:port of a redis:// URL (6379 when the URL has no port). */
export function redisAddress(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(parsed.port || 6379) };
}

/**
 * Why a TCP connection to Redis fails (`ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`...), or undefined
 * when it connects: the client library hides the cause behind "Connection is closed.".
 */
export function probeTcp(host: string, port: number, timeoutMs = REDIS_PROBE_TIMEOUT_MS): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Where the process looked for Redis: one server (REDIS_URL) or a cluster's seed nodes (REDIS_CLUSTER_NODES). */
export interface RedisTarget {
  redisUrl: string | undefined;
  redisClusterNodes: { host: string; port: number }[] | undefined;
}

/** `host:port`, with an IPv6 host in brackets as REDIS_CLUSTER_NODES spells it. */
const hostPort = ({ host, port }: { host: string; port: number }): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** One line naming what failed and what to do about it. */
export async function describeStartupError(err: unknown, { redisUrl, redisClusterNodes }: RedisTarget): Promise<string> {
  const error = (err instanceof Error ? err : new Error(String(err))) as Errno;
  if (error.code === 'EADDRINUSE' && typeof error.port === 'number') {
    // Only the gateway's port can be shared (uWS SO_REUSEPORT); the worker and bridge use Node's server.
    const share = error.name === 'ListenError' ? ', or REUSE_PORT=true to share it deliberately' : '';
    return `port ${error.port} is already in use (set PORT${share})`;
  }
  if (error.code === 'EACCES' && typeof error.port === 'number') {
    return `not permitted to listen on port ${error.port} (ports below 1024 need privileges: set PORT)`;
  }
  if (typeof error.code === 'string' && typeof error.port === 'number' && error.name === 'ListenError') {
    return `cannot listen on ${String(error.address)}:${error.port} (${error.code}): check HOST and PORT`;
  }
  if (redisClusterNodes !== undefined && isRedisConnectionFailure(error)) {
    const nodes = redisClusterNodes.map(hostPort).join(',');
    // The cluster client fails only when no seed node answered as a cluster: say why each did not.
    const causes = await Promise.all(redisClusterNodes.map(({ host, port }) => probeTcp(host, port)));
    if (causes.every((cause) => cause !== undefined)) {
      const distinct = [...new Set(causes)].join(', ');
      return `cannot reach the Redis Cluster at ${nodes} (${distinct}): is it running, and is REDIS_CLUSTER_NODES right?`;
    }
    return `the Redis Cluster at ${nodes} did not answer as a cluster (${error.message}): are the nodes cluster-enabled and every slot assigned?`;
  }
  if (redisUrl !== undefined && isRedisConnectionFailure(error)) {
    const { host, port } = redisAddress(redisUrl);
    const cause = await probeTcp(host, port);
    if (cause !== undefined) return `cannot reach Redis at ${host}:${port} (${cause}): is it running, and is REDIS_URL right?`;
    return `Redis at ${host}:${port} refused the connection: ${error.message}`;
  }
  return error.message;
}

/** ioredis rejects a failed first connection with these messages, or with the socket error itself. */
const isRedisConnectionFailure = (error: Errno): boolean =>
  error.message === 'Connection is closed.' ||
  // ioredis's Cluster, when no seed node gave it the slot map.
  error.message === 'None of startup nodes is available' ||
  /reached the max retries|Stream isn't writeable/.test(error.message) ||
  (typeof error.code === 'string' && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH'].includes(error.code));
