import { INGEST_GROUP, withTimeout } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { StreamEntry } from '../engine.js';
import type { Client, ConnectionFactory } from './connections.js';
import type { ConsumerGroups } from './groups.js';
import { PartitionedReads } from './partitioned-reads.js';
import type { PubSub } from './pubsub.js';
import { runPartitionRead } from './scripts/partition-read.js';
import { toFields, type RawEntry } from './stream-entries.js';
import { entryId, type Topology } from './topology.js';

/** How a worker reads new ingest entries. */
export interface IngestReader {
  read(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]>;
  close(): void;
}

export interface ReaderDeps {
  main: Client;
  connect: ConnectionFactory;
  topology: Topology;
  groups: ConsumerGroups;
  pubsub: PubSub;
  logger: Logger;
}

const toEntries = (topology: Topology, partition: number, reply: [string, RawEntry[]][] | null): StreamEntry[] =>
  (reply?.[0]?.[1] ?? []).map(([id, flat]) => ({ streamId: entryId(topology, partition, id), fields: toFields(flat ?? []), deliveries: 1 }));

/**
 * One Redis: a blocking read of the stream on a connection of its own (a blocking read holds it);
 * a read that must not wait on the command connection, where it travels in one write with the
 * commands issued at the same time (a worker reads its next batch while the current one commits).
 */
export function blockingReader({ main, connect, topology, groups }: ReaderDeps): IngestReader {
  let reader: Client | undefined;
  const stream = topology.ingestStream(0);
  return {
    async read(consumer, count, blockMs) {
      const reply = await groups.with(0, async () => {
        // BLOCK 0 would wait forever: a read that must not wait leaves BLOCK out.
        if (blockMs <= 0) return main.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'STREAMS', stream, '>') as Promise<[string, RawEntry[]][] | null>;
        reader ??= connect('blocking', { maxRetriesPerRequest: 1 });
        if (reader.status === 'wait') await reader.connect();
        return reader.xreadgroup('GROUP', INGEST_GROUP, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>') as Promise<[string, RawEntry[]][] | null>;
      });
      return toEntries(topology, 0, reply);
    },
    // A blocking read would hold QUIT back until it times out: the reader just disconnects.
    close: () => reader?.disconnect(),
  };
}

/**
 * A Redis Cluster: non-blocking reads of the partitions that appends woke (see
 * PartitionedReads), on the command connection; the wait for a wake-up is the only blocking
 * part, and holds no connection.
 */
export function wokenReader({ main, topology, groups, pubsub, logger }: ReaderDeps): IngestReader {
  const reads = new PartitionedReads(topology.partitions, (partition, consumer, count) =>
    groups.with(partition, async () =>
      toEntries(
        topology,
        partition,
        await runPartitionRead(main, {
          stream: topology.ingestStream(partition), wake: topology.ingestWake(partition), group: INGEST_GROUP, consumer, count,
        }),
      ),
    ),
  );
  const wakeRoutes = groups.partitions().map((partition): [string, () => void] => [topology.ingestWake(partition), () => reads.wake(partition)]);
  // Wake-ups published while the subscription was away are lost: read every partition.
  pubsub.onRestored(() => reads.wakeAll());
  let subscribed: Promise<void> | undefined;

  /**
   * Subscribes to every partition's wake-up channel, once; waits for it at most `waitMs` (the
   * reads go on meanwhile: every partition is swept once per block time regardless). A failed
   * subscription is tried again on the next read.
   */
  const subscribeWakeUps = async (waitMs: number): Promise<void> => {
    subscribed ??= pubsub.listen(wakeRoutes).catch((err: unknown) => {
      subscribed = undefined;
      logger.warn({ err }, 'ingest wake-up subscription failed; reading every partition meanwhile');
    });
    await withTimeout(subscribed, Math.max(waitMs, 1), undefined);
  };

  return {
    async read(consumer, count, blockMs) {
      await subscribeWakeUps(blockMs);
      return reads.read(consumer, count, blockMs);
    },
    close: () => reads.close(),
  };
}
