import { CHANNELS, KEY_PREFIX, logsChannel } from '@switchboard/protocol';

/**
 * The channel a membership is kept under, for each channel the API names. Raw channels are kept
 * under their own name (beside their position and history); the error feed and each job room,
 * which travel on the Socket.IO namespace's channel, under names of their own, so each job's
 * presence lands on its own shard of a Redis Cluster.
 */
export const PRESENCE_CHANNELS = {
  analytics: CHANNELS.analytics,
  availability: CHANNELS.availability,
  errors: `${KEY_PREFIX}ch:errors`,
  logs: logsChannel,
  jobs: (jobId: string): string => `${KEY_PREFIX}ch:jobs:${jobId}`,
  /** One user's connections, across channels and gateways (unlisted): MAX_CONNECTIONS_PER_USER counts them. */
  user: (userId: string): string => `${KEY_PREFIX}ch:users:${userId}`,
} as const;

const LOGS_PREFIX = logsChannel('');
const JOBS_PREFIX = PRESENCE_CHANNELS.jobs('');

/** The API name of a presence channel (`logs:shop` for `sb:ch:logs:app:shop`); undefined for another name. */
export function apiNameOf(channel: string): string | undefined {
  if (channel === PRESENCE_CHANNELS.analytics) return 'analytics';
  if (channel === PRESENCE_CHANNELS.availability) return 'availability';
  if (channel === PRESENCE_CHANNELS.errors) return 'errors';
  if (channel.startsWith(LOGS_PREFIX)) return `logs:${channel.slice(LOGS_PREFIX.length)}`;
  if (channel.startsWith(JOBS_PREFIX)) return `jobs:${channel.slice(JOBS_PREFIX.length)}`;
  return undefined;
}

/** A clientId a client chose (`?clientId=` on the upgrade, to keep its presence across reconnects): 8-64 of `A-Z a-z 0-9 _ - . :`. */
export const isClientId = (value: string): boolean => /^[A-Za-z0-9_.:-]{8,64}$/.test(value);

/** A member's `info` for each endpoint: one shared (frozen) object, not one per connection. */
const ENDPOINT_INFO = new Map<string, Readonly<{ endpoint: string }>>();
export function endpointInfo(endpoint: string): Readonly<{ endpoint: string }> {
  let info = ENDPOINT_INFO.get(endpoint);
  if (info === undefined) ENDPOINT_INFO.set(endpoint, (info = Object.freeze({ endpoint })));
  return info;
}
