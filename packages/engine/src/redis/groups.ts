import { INGEST_GROUP } from '@switchboard/protocol';
import type { Logger } from 'pino';
import type { Client } from './connections.js';
import type { Topology } from './topology.js';

/** The workers' consumer group on every ingest partition, recreated when Redis forgot it. */
export class ConsumerGroups {
  constructor(
    private readonly main: Client,
    private readonly topology: Topology,
    private readonly logger: Logger,
  ) {}

  /** Every partition, by index. */
  partitions(): number[] {
    return Array.from({ length: this.topology.partitions }, (_, partition) => partition);
  }

  /**
   * Creates a partition's consumer group at the start of its stream (id 0), so entries added
   * before any worker existed are still delivered. Also used after Redis lost its data (restart
   * without persistence, failover to an empty replica): reads then fail with NOGROUP.
   */
  ensure(partition: number): Promise<void> {
    return this.ensureStream(this.topology.ingestStream(partition));
  }

  /** `ensure` for any stream the workers' group reads (the intake stream of a cluster too). */
  async ensureStream(stream: string): Promise<void> {
    try {
      await this.main.xgroup('CREATE', stream, INGEST_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
    }
  }

  /** Runs a group command on one partition, recreating its group once if Redis forgot it. */
  with<T>(partition: number, command: () => Promise<T>): Promise<T> {
    return this.withStream(this.topology.ingestStream(partition), command);
  }

  /** `with` for any stream the workers' group reads. */
  async withStream<T>(stream: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      // NOGROUP, or "no such key" from XINFO when the stream itself is gone.
      if (!(err instanceof Error) || !/NOGROUP|no such key/.test(err.message)) throw err;
      this.logger.warn({ stream }, 'ingest consumer group missing (Redis lost its data?): recreating it');
      await this.ensureStream(stream);
      return command();
    }
  }

  /** XINFO GROUPS of a partition's stream, for the workers' group: field → value. */
  info(partition: number): Promise<Map<string, unknown> | undefined> {
    return this.infoOf(this.topology.ingestStream(partition));
  }

  /** `info` for any stream the workers' group reads. */
  async infoOf(stream: string): Promise<Map<string, unknown> | undefined> {
    const groups = (await this.main.xinfo('GROUPS', stream)) as unknown[][];
    for (const flat of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
      if (info.get('name') === INGEST_GROUP) return info;
    }
    return undefined;
  }

  /** Drops the entries of a stream the group acknowledged (never pending or undelivered ones). */
  async trim(stream: string): Promise<void> {
    const summary = (await this.main.xpending(stream, INGEST_GROUP)) as [number, string | null, string | null, unknown];
    let keepFrom: string | undefined = summary[0] > 0 && summary[1] ? summary[1] : undefined;
    if (keepFrom === undefined) {
      const lastDelivered = (await this.infoOf(stream))?.get('last-delivered-id');
      if (typeof lastDelivered === 'string') keepFrom = lastDelivered;
    }
    if (keepFrom !== undefined && keepFrom !== '0-0') await this.main.xtrim(stream, 'MINID', '~', keepFrom);
  }
}
