import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { withTimeout } from '@switchboard/protocol';
import { historyResult, isValidSince } from '../channel.js';
import type { ChannelHandler, ChannelMessage, ChannelPosition, Channels, HistoryLimits, HistoryRequest, HistoryResult } from '../engine.js';
import { decodeChannelMessages, frameWithOffset } from './channel-messages.js';
import type { Client } from './connections.js';
import type { Mode } from './mode.js';
import type { PubSub } from './pubsub.js';
import { runHistory } from './scripts/history.js';
import { runPosition } from './scripts/position.js';
import type { RawEntry } from './stream-entries.js';
import type { Topology } from './topology.js';

export interface ChannelDeps {
  main: Client;
  mode: Mode;
  pubsub: PubSub;
  /** A new epoch candidate (for a channel that has none). */
  epoch: () => string;
  /** What the history keeps: a read returns no more than `size` frames. */
  history: HistoryLimits;
  logger: Logger;
}

/**
 * History entries (newest first) as messages in offset order. An entry's offset is the sum of
 * its id's two numbers (`<offset>-0`, or `<first offset of its batch>-<n>`); field 'f' holds a
 * frame as clients get it, 'b' one without its offset.
 */
function toMessages(epoch: string, newestFirst: RawEntry[]): ChannelMessage[] {
  const messages: ChannelMessage[] = [];
  for (let n = newestFirst.length - 1; n >= 0; n--) {
    const [id, flat] = newestFirst[n] as RawEntry;
    const dash = id.indexOf('-');
    const offset = Number(id.slice(0, dash)) + Number(id.slice(dash + 1));
    const frame = flat?.[1] ?? '';
    messages.push({ epoch, offset, frame: flat?.[0] === 'b' ? frameWithOffset(frame, offset) : frame });
  }
  return messages;
}

/**
 * Channels on Redis: positions and history in keys (written by the commit script), frames over
 * pub/sub (sharded on a cluster). Every handler of a channel shares one subscription.
 */
export class RedisChannels implements Channels {
  private readonly main: Client;
  private readonly topology: Topology;
  private readonly pubsub: PubSub;
  /** The handlers of each channel, from the first subscribe until the last unsubscribe. */
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  /** This engine's probe channels (one per partition on a cluster), and the probes on their way round. */
  private readonly probeToken = randomBytes(8).toString('hex');
  private readonly probes = new Map<string, (partition: number) => void>();
  private probeNonce = 0;
  private malformedMessages = 0;

  constructor(private readonly deps: ChannelDeps) {
    ({ main: this.main, pubsub: this.pubsub } = deps);
    this.topology = deps.mode.topology;
  }

  async position(channel: string): Promise<ChannelPosition> {
    const [epoch, offset] = await runPosition(this.main, { ...this.topology.channel(channel), epoch: this.deps.epoch() });
    return { epoch, offset: Number(offset) };
  }

  async history(channel: string, request: HistoryRequest): Promise<HistoryResult> {
    if (!isValidSince(request.since)) return { recovered: false, ...(await this.position(channel)) };
    const [epoch, offset, entries] = await runHistory(this.main, {
      ...this.topology.channel(channel), epoch: this.deps.epoch(), clientEpoch: request.epoch, since: request.since, acrossEpochs: request.acrossEpochs === true,
      size: this.deps.history.size,
    });
    return historyResult({ epoch, offset: Number(offset) }, request, toMessages(epoch, entries ?? []));
  }

  /**
   * Every caller for a channel awaits the same SUBSCRIBE: when it fails, they all reject and the
   * channel is forgotten, so a later call subscribes again.
   */
  async subscribe(channel: string, handler: ChannelHandler): Promise<void> {
    let set = this.handlers.get(channel);
    if (set === undefined) this.handlers.set(channel, (set = new Set()));
    set.add(handler);
    try {
      await this.pubsub.listen([[this.topology.channel(channel).pubsub, (payload) => this.deliver(channel, payload)]]);
    } catch (err) {
      if (this.handlers.get(channel) === set) this.handlers.delete(channel);
      throw err;
    }
  }

  async unsubscribe(channel: string, handler: ChannelHandler): Promise<void> {
    const set = this.handlers.get(channel);
    if (set === undefined || !set.delete(handler) || set.size > 0) return;
    this.handlers.delete(channel);
    await this.pubsub.unlisten([this.topology.channel(channel).pubsub]);
  }

  private deliver(channel: string, payload: string): void {
    const set = this.handlers.get(channel);
    if (set === undefined) return;
    const messages = decodeChannelMessages(payload);
    if (messages === undefined) {
      // Not published by an engine (someone ran PUBLISH by hand): never forward it to clients.
      this.malformedMessages += 1;
      if (this.malformedMessages === 1 || this.malformedMessages % 1000 === 0) {
        this.deps.logger.warn({ channel, count: this.malformedMessages }, 'dropped a channel message without an engine header');
      }
      return;
    }
    // A batch's frames of this channel come in one message: handed on one by one, in order.
    for (const message of messages) for (const h of set) h(message);
  }

  onSubscriptionsRestored(listener: () => void): () => void {
    return this.pubsub.onRestored(listener);
  }

  /** A round trip through pub/sub; on a cluster through every partition's shard at once. */
  async probeSubscription(timeoutMs: number): Promise<boolean> {
    const nonce = String((this.probeNonce += 1));
    const names = Array.from({ length: this.topology.partitions }, (_, partition) => this.topology.probeChannel(this.probeToken, partition));
    const arrived = withTimeout(
      new Promise<boolean>((resolve) => {
        const seen = new Set<number>();
        this.probes.set(nonce, (partition) => {
          seen.add(partition);
          if (seen.size === this.topology.partitions) resolve(true);
        });
      }),
      timeoutMs,
      false,
    );
    const roundTrip = (async () => {
      await this.pubsub.listen(names.map((name, partition) => [name, (payload) => this.probes.get(payload)?.(partition)]));
      await Promise.all(names.map((name) => this.deps.mode.publish(this.main, name, nonce)));
      return arrived;
    })();
    try {
      // Failures (Redis away) count as a failed probe; the timeout bounds every step.
      return await Promise.race([roundTrip.catch(() => false), arrived]);
    } finally {
      this.probes.delete(nonce);
    }
  }
}
