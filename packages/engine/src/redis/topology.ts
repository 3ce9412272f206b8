import { INGEST_STREAM, KEY_PREFIX, keyRoute } from '@switchboard/protocol';
import { channelKeys as singleChannelKeys, consumerAliveKey, probeChannel } from './keys.js';

/** Redis Cluster hash slots. */
export const SLOTS = 16384;

/** CRC16/XMODEM, the checksum Redis Cluster takes of a key (or its hash tag) modulo 16384. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The hashed part of a key: the first non-empty `{...}`, else the whole key (Redis's rule). */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close);
}

/** The slot of a key, as CLUSTER KEYSLOT answers. */
export const keySlot = (key: string): number => crc16(Buffer.from(hashTagOf(key), 'utf8')) % SLOTS;

/**
 * Hash tags for `count` partitions whose slots spread evenly: partition p gets a tag whose slot
 * lies in the p-th of `count` equal slot ranges, so partitions land on the shards in proportion
 * to the slots each serves (short tags such as {0}..{31} do not spread). Deterministic: every
 * process computes the same tags. Tags are base-36 numbers, the first found for each range.
 */
export function partitionTags(count: number): string[] {
  const tags = Array.from({ length: count }, (): string | undefined => undefined);
  let missing = count;
  for (let k = 0; missing > 0; k += 1) {
    const tag = k.toString(36);
    const range = Math.floor((keySlot(tag) * count) / SLOTS);
    if (tags[range] === undefined) {
      tags[range] = tag;
      missing -= 1;
    }
  }
  return tags as string[];
}

/** The names one channel uses: its position and history keys and its pub/sub channel. */
export interface ChannelNames {
  position: string;
  history: string;
  /** What is published and subscribed to on Redis. */
  pubsub: string;
}

/**
 * Where every key, stream and channel lives. One Redis: one ingest stream (`sb:ingest`) and
 * every name as it always was. A Redis Cluster: `partitions` ingest streams, and each channel,
 * with every key written with it, under the hash tag of its partition.
 */
export interface Topology {
  readonly cluster: boolean;
  readonly partitions: number;
  /** The partition a channel (or any routing name) belongs to. */
  partitionOf(route: string): number;
  ingestStream(partition: number): string;
  /**
   * A partition's wake-up (cluster): the flag an append sets and the shard channel it publishes
   * on when the flag was not set yet; readers clear the flag as they read.
   */
  ingestWake(partition: number): string;
  consumerAliveKey(partition: number, consumer: string): string;
  channel(channel: string): ChannelNames;
  /** Where a state key (analytics figures, log history...) is stored. */
  stateKey(key: string): string;
  /** Where an idempotent append's marker lives: with the stream it appends to. */
  dedupeKey(key: string, partition: number): string;
  probeChannel(token: string, partition: number): string;
  /** The step a key is written in: keys of one group are written by one script. */
  groupOf(key: string): number;
}

const withoutPrefix = (name: string): string => (name.startsWith(KEY_PREFIX) ? name.slice(KEY_PREFIX.length) : name);

export const singleTopology: Topology = {
  cluster: false,
  partitions: 1,
  partitionOf: () => 0,
  ingestStream: () => INGEST_STREAM,
  ingestWake: () => `${INGEST_STREAM}:wake`,
  consumerAliveKey: (_partition, consumer) => consumerAliveKey(consumer),
  channel: (channel) => ({ ...singleChannelKeys(channel), pubsub: channel }),
  stateKey: (key) => key,
  dedupeKey: (key) => key,
  probeChannel: (token) => probeChannel(token),
  groupOf: () => 0,
};

/** The partitioned layout of a Redis Cluster: `sb:{<tag>}:<name>` for everything of partition p. */
export function clusterTopology(partitions: number): Topology {
  const tags = partitionTags(partitions);
  const under = (partition: number, name: string): string => `${KEY_PREFIX}{${tags[partition]}}:${withoutPrefix(name)}`;
  const partitionOf = (route: string): number => keySlot(route) % partitions;
  return {
    cluster: true,
    partitions,
    partitionOf,
    ingestStream: (partition) => under(partition, INGEST_STREAM),
    ingestWake: (partition) => under(partition, `${INGEST_STREAM}:wake`),
    consumerAliveKey: (partition, consumer) => under(partition, consumerAliveKey(consumer)),
    channel: (channel) => {
      const partition = partitionOf(channel);
      return { position: under(partition, `${channel}:position`), history: under(partition, `${channel}:history`), pubsub: under(partition, channel) };
    },
    stateKey: (key) => {
      const route = keyRoute(key);
      return route === undefined ? key : under(partitionOf(route), key);
    },
    dedupeKey: (key, partition) => under(partition, key),
    probeChannel: (token, partition) => under(partition, probeChannel(token)),
    groupOf: keySlot,
  };
}

/** Where a stream entry came from: its partition and its id in that partition's stream. */
export interface EntryAddress {
  partition: number;
  id: string;
}

/** An entry's id as the engine hands it out: `<stream id>@<partition>` on a cluster. */
export const entryId = (topology: Topology, partition: number, id: string): string => (topology.cluster ? `${id}@${partition}` : id);

/** The partition and stream id an entry id names; throws for an id this topology never handed out. */
export function entryAddress(topology: Topology, streamId: string): EntryAddress {
  const at = streamId.lastIndexOf('@');
  if (!topology.cluster || at === -1) return { partition: 0, id: streamId };
  const partition = Number(streamId.slice(at + 1));
  if (!Number.isInteger(partition) || partition < 0 || partition >= topology.partitions) {
    throw new TypeError(`not an entry id of this engine: ${streamId}`);
  }
  return { partition, id: streamId.slice(0, at) };
}
