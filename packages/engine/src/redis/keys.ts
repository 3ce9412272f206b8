import { KEY_PREFIX } from '@switchboard/protocol';

/**
 * Redis keys the engine owns besides the ingest stream, as named on one Redis. A channel's keys
 * there read `sb:{ch:analytics}:position`: the braces are part of the name only (one server has
 * no slots). On a Redis Cluster the topology stores every key of a channel under its partition's
 * hash tag instead (`sb:{<tag>}:ch:analytics:position`, see topology.ts), with the state keys
 * its commits write, so one script can touch them together.
 */
export interface ChannelKeys {
  /** Hash: `epoch` (changes whenever offsets start over) and `offset` (the latest). */
  position: string;
  /** Stream of the latest frames; entry id `<offset>-0`, field `f` the frame as published. */
  history: string;
}

const tagOf = (channel: string): string => (channel.startsWith(KEY_PREFIX) ? channel.slice(KEY_PREFIX.length) : channel);

export const channelKeys = (channel: string): ChannelKeys => {
  const tag = tagOf(channel);
  return { position: `${KEY_PREFIX}{${tag}}:position`, history: `${KEY_PREFIX}{${tag}}:history` };
};

/** Set by a live worker for its consumer name, with a short TTL it keeps renewing. */
export const consumerAliveKey = (consumer: string): string => `${KEY_PREFIX}worker:alive:${consumer}`;

/** Pub/sub channel a node's subscription probes go round on: unique to one engine instance. */
export const probeChannel = (token: string): string => `${KEY_PREFIX}probe:${token}`;
