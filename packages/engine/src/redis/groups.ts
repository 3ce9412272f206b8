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
  async ensure(partition: number): Promise<void> {
    try {
      await this.main.xgroup('CREATE', this.topology.ingestStream(partition), INGEST_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
    }
  }

  /** Runs a group command on one partition, recreating its group once if Redis forgot it. */
  async with<T>(partition: number, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (err) {
      // NOGROUP, or "no such key" from XINFO when the stream itself is gone.
      if (!(err instanceof Error) || !/NOGROUP|no such key/.test(err.message)) throw err;
      this.logger.warn({ partition }, 'ingest consumer group missing (Redis lost its data?): recreating it');
      await this.ensure(partition);
      return command();
    }
  }

  /** XINFO GROUPS of a partition's stream, for the workers' group: field → value. */
  async info(partition: number): Promise<Map<string, unknown> | undefined> {
    const groups = (await this.main.xinfo('GROUPS', this.topology.ingestStream(partition))) as unknown[][];
    for (const flat of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
      if (info.get('name') === INGEST_GROUP) return info;
    }
    return undefined;
  }
}
