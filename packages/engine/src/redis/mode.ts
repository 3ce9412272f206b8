import { INGEST_GROUP, ingestRoute, parseJson } from '@switchboard/protocol';
import { commitChained, commitEach } from '../commit-rules.js';
import type { Client, ConnectionFactory } from './connections.js';
import { blockingReader, wokenReader, type IngestReader, type ReaderDeps } from './ingest-readers.js';
import { runAppendOnce, type AppendMarker, type AppendReply } from './scripts/append-once.js';
import { runClusterAppend } from './scripts/cluster-append.js';
import { deadLetterArgs, type DeadCopy } from './dead-letters.js';
import { flatFields } from './stream-entries.js';
import { clusterTopology, singleTopology, type Topology } from './topology.js';

/**
 * How a cluster engine checks that every slot is served. The cluster reports a failed master
 * for well under a second before its replica takes over: a slower check would miss it.
 */
const SLOTS_CHECK_MS = 250;

/** Everything that differs between one Redis and a Redis Cluster, besides where keys live (Topology). */
export interface Mode {
  readonly topology: Topology;
  /** The subscriber connection: classic pub/sub on one Redis, sharded subscribers on a cluster. */
  createSubscriber(connect: ConnectionFactory): Client;
  /** The event a message arrives with: 'message' (PUBLISH) or 'smessage' (SPUBLISH). */
  readonly messageEvent: 'message' | 'smessage';
  /**
   * The event after which subscriptions must be restored: one Redis reconnects its single
   * connection ('ready'); ioredis recreates a cluster's sharded subscribers after a node was
   * lost or the slots moved ('subscribersReady').
   */
  readonly reconnectedEvent: 'ready' | 'subscribersReady';
  /** SUBSCRIBE, or on a cluster SSUBSCRIBE (one command per slot: each reaches its shard). */
  subscribe(subscriber: Client, names: string[]): Promise<void>;
  unsubscribe(subscriber: Client, name: string): Promise<void>;
  publish(main: Client, name: string, payload: string): Promise<unknown>;

  /** The ingest partition an entry goes to: that of the channel it publishes on (cluster only). */
  ingestPartition(fields: Record<string, string>, route: string | undefined): number;
  /** How `commitBatch` issues commits so that those of one channel apply in the given order. */
  readonly commitBatch: typeof commitEach;
  /** How workers read new entries. */
  createReader(deps: ReaderDeps): IngestReader;
  /** Appends an entry to a partition, once per marker when there is one. */
  append(main: Client, partition: number, fields: Record<string, string>, marker?: AppendMarker): Promise<AppendReply>;
  /** Copies an entry to the dead-letter stream and acknowledges it. */
  deadLetter(main: Client, entry: DeadEntry): Promise<void>;
  /**
   * Starts watching whether the store can serve every key (a cluster's slots); `served` answers
   * the latest check.
   */
  watch(main: Client): Promise<SlotsWatch>;
}

export interface SlotsWatch {
  served(): boolean;
  stop(): void;
}

/** An entry on its way to the dead-letter stream: the copy, and where to acknowledge it. */
export interface DeadEntry extends DeadCopy {
  stream: string;
  /** Its id in its partition's stream. */
  id: string;
}

const alwaysServed: SlotsWatch = { served: () => true, stop: () => undefined };

/** One Redis: one ingest stream, classic pub/sub, multi-key steps in one MULTI. */
export const singleMode: Mode = {
  topology: singleTopology,
  createSubscriber: (connect) => connect('subscriber', { autoResubscribe: false }),
  messageEvent: 'message',
  reconnectedEvent: 'ready',
  async subscribe(subscriber, names) {
    if (names.length > 0) await subscriber.subscribe(...names);
  },
  async unsubscribe(subscriber, name) {
    await subscriber.unsubscribe(name);
  },
  publish: (main, name, payload) => main.publish(name, payload),
  ingestPartition: () => 0,
  // One connection, commands applied in the order sent, every commit one script.
  commitBatch: commitEach,
  createReader: blockingReader,
  async append(main, partition, fields, marker) {
    const stream = singleTopology.ingestStream(partition);
    if (marker !== undefined) return runAppendOnce(main, stream, marker, fields);
    const id = await main.xadd(stream, '*', ...flatFields(fields));
    if (id === null) throw new Error('XADD returned no id');
    return [1, id];
  },
  async deadLetter(main, entry) {
    await main.multi().xadd(...deadLetterArgs(entry)).xack(entry.stream, INGEST_GROUP, entry.id).exec();
  },
  watch: () => Promise.resolve(alwaysServed),
};

/** Parses a JSON body for routing; undefined when it is not JSON. */
const parsedBody = (body: string | undefined): unknown => {
  if (body === undefined) return undefined;
  const json = parseJson(body);
  return json.ok ? json.value : undefined;
};

/** A Redis Cluster: `partitions` ingest streams, sharded pub/sub, one script per slot. */
export function clusterMode(partitions: number): Mode {
  const topology = clusterTopology(partitions);
  return {
    topology,
    createSubscriber: (connect) => connect('subscriber', {}, true),
    messageEvent: 'smessage',
    reconnectedEvent: 'subscribersReady',
    async subscribe(subscriber, names) {
      const bySlot = new Map<number, string[]>();
      for (const name of names) {
        const group = topology.groupOf(name);
        bySlot.set(group, [...(bySlot.get(group) ?? []), name]);
      }
      await Promise.all([...bySlot.values()].map((slotNames) => subscriber.ssubscribe(...slotNames)));
    },
    async unsubscribe(subscriber, name) {
      await subscriber.sunsubscribe(name);
    },
    publish: (main, name, payload) => main.spublish(name, payload),
    ingestPartition: (fields, route) => topology.partitionOf(route ?? ingestRoute(fields['kind'] ?? '', () => parsedBody(fields['body']))),
    // A commit spanning slots runs its guarded step last: a later commit must wait for it.
    commitBatch: commitChained,
    createReader: wokenReader,
    append: (main, partition, fields, marker) =>
      runClusterAppend(main, {
        stream: topology.ingestStream(partition),
        wake: topology.ingestWake(partition),
        marker: marker === undefined ? undefined : { ...marker, key: topology.dedupeKey(marker.key, partition) },
        fields,
      }),
    async deadLetter(main, entry) {
      // One dead-letter stream for every partition, on its own slot: copy first, acknowledge
      // after, so a failure in between copies the entry twice rather than losing it.
      await main.xadd(...deadLetterArgs(entry));
      await main.xack(entry.stream, INGEST_GROUP, entry.id);
    },
    async watch(main) {
      // While a master is down and before its replica took over, its slots are served by no
      // one: the engine is not healthy then, even though every connection it holds is.
      let served = true;
      const check = async () => {
        try {
          served = /cluster_state:ok/.test(String(await main.cluster('INFO')));
        } catch {
          served = false;
        }
      };
      await check();
      const timer = setInterval(() => void check(), SLOTS_CHECK_MS);
      timer.unref();
      return { served: () => served, stop: () => clearInterval(timer) };
    },
  };
}
