import { connect, type Channel, type ChannelModel, type ConsumeMessage, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';
import type { RabbitMqConfig } from '@switchboard/config';
import type { Engine } from '@switchboard/engine';
import { ingestDedupeKey, withTimeout } from '@switchboard/protocol';
import { retry, type BackoffOptions } from '@switchboard/runtime';
import { decodeAvailabilityMessage, forwardAvailability, type ForwardDedupe } from './forward.js';
import type { BridgeMetrics } from './metrics.js';

/** Reconnection backoff (amqplib's recovery: exponential, with jitter). */
const RECONNECT_INITIAL_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** Retry backoff while the ingest (Redis) refuses an append. */
const FORWARD_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 5_000 };

export interface BridgeOptions {
  rabbitmq: RabbitMqConfig;
  nodeId: string;
  /** How long a forwarded message's `messageId` is remembered (IDEMPOTENCY_TTL_S). */
  dedupeTtlS: number;
}

/**
 * Consumes `tour.availability.low` from a durable queue bound to the (durable, topic) exchange
 * and forwards each message into the ingest stream. A message is acknowledged only once the
 * ingest stored it. A message with a `messageId` is forwarded at most once per queue and
 * messageId (while IDEMPOTENCY_TTL_S remembers it), so a redelivery is acknowledged without a
 * second entry; one without is at-least-once. A malformed one is rejected without requeue (dead-lettered
 * when the queue has a dead-letter exchange) and the bridge carries on. When the connection or
 * the channel drops, it reconnects with backoff and declares its topology again.
 */
export class RabbitBridge {
  private model: RecoveringChannelModel | undefined;
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private stopping = false;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly engine: Engine,
    private readonly options: BridgeOptions,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
  ) {}

  /** True while connected and consuming. */
  get connected(): boolean {
    return this.channel !== undefined;
  }

  /** Starts connecting; keeps retrying in the background (readiness tells when it is up). */
  async start(): Promise<void> {
    const { rabbitmq, nodeId } = this.options;
    const model = await connect(rabbitmq.url, {
      clientProperties: { connection_name: `switchboard-bridge-${nodeId}` },
      recovery: {
        initialDelay: RECONNECT_INITIAL_MS,
        maxDelay: RECONNECT_MAX_MS,
        waitForConnect: false,
        setup: (raw: ChannelModel) => this.setup(raw),
      },
    });
    model.on('connect', () => this.logger.info({ queue: rabbitmq.queue }, 'rabbitmq connected: consuming'));
    model.on('disconnect', (err: Error) => {
      this.setChannel(undefined);
      if (!this.stopping) this.logger.warn({ err: err.message }, 'rabbitmq connection lost: reconnecting');
    });
    model.on('connect-failed', (err: Error) => this.logger.warn({ err: err.message }, 'rabbitmq connection failed'));
    model.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) => {
      this.metrics.reconnects.inc();
      if (attempt === 1 || attempt % 10 === 0) this.logger.info({ attempt, delayMs: delay }, 'rabbitmq reconnect scheduled');
    });
    model.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'rabbitmq connection error'));
    this.model = model;
  }

  /** Runs after every (re)connection: topology, prefetch, consumer. */
  private async setup(raw: ChannelModel): Promise<void> {
    const { exchange, routingKey, queue, deadLetterExchange, prefetch } = this.options.rabbitmq;
    const channel = await raw.createChannel();
    channel.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'rabbitmq channel error'));
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.setChannel(undefined);
      // A channel closed by the broker (queue deleted, precondition failed...) on a live
      // connection: drop the connection too, so recovery starts over with the topology.
      if (!this.stopping) raw.close().catch(() => undefined);
    });
    await channel.assertExchange(exchange, 'topic', { durable: true });
    await channel.assertQueue(queue, {
      durable: true,
      ...(deadLetterExchange !== undefined ? { arguments: { 'x-dead-letter-exchange': deadLetterExchange } } : {}),
    });
    await channel.bindQueue(queue, exchange, routingKey);
    await channel.prefetch(prefetch);
    const { consumerTag } = await channel.consume(queue, (message) => this.track(this.handle(channel, message)), { noAck: false });
    this.consumerTag = consumerTag;
    this.setChannel(channel);
  }

  private setChannel(channel: Channel | undefined): void {
    this.channel = channel;
    this.metrics.connected.set(channel === undefined ? 0 : 1);
  }

  private track(work: Promise<void>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private async handle(channel: Channel, message: ConsumeMessage | null): Promise<void> {
    if (message === null) {
      // The broker cancelled the consumer (the queue was deleted): start over.
      this.logger.warn('rabbitmq consumer cancelled by the broker: reconnecting');
      await channel.close().catch(() => undefined);
      return;
    }
    const decoded = decodeAvailabilityMessage(message.content);
    if (!decoded.ok) {
      this.metrics.messages.inc({ outcome: 'rejected' });
      this.logger.warn(
        { reason: decoded.error, routingKey: message.fields.routingKey, deliveryTag: message.fields.deliveryTag },
        'malformed rabbitmq message rejected',
      );
      return this.settle(channel, () => channel.nack(message, false, false));
    }
    const dedupe = this.dedupeOf(message);
    // Given up only when the bridge stops or the channel is gone: the broker redelivers then.
    const giveUp = new AbortController();
    let forwarded: { id: string; duplicate: boolean };
    try {
      forwarded = await retry(() => forwardAvailability(this.engine, decoded.value, dedupe), {
        ...FORWARD_BACKOFF,
        signal: giveUp.signal,
        onFailure: (err, failures) => {
          this.metrics.forwardRetries.inc();
          if (failures === 1) this.logger.warn({ err }, 'ingest unavailable: holding the message and retrying');
          if (this.stopping || this.channel !== channel) giveUp.abort();
        },
      });
    } catch {
      return;
    }
    const { id, duplicate } = forwarded;
    if (duplicate) {
      this.metrics.duplicates.inc();
      this.logger.info({ id, messageId: message.properties.messageId as unknown, redelivered: message.fields.redelivered }, 'duplicate rabbitmq message acknowledged: already forwarded');
    } else {
      this.metrics.messages.inc({ outcome: 'forwarded' });
      this.logger.debug({ id, tourId: decoded.value.tourId }, 'availability event forwarded');
    }
    return this.settle(channel, () => channel.ack(message));
  }

  /** The dedupe key of a message that carries a messageId: scoped by queue (`amqp:<queue>`). */
  private dedupeOf(message: ConsumeMessage): ForwardDedupe | undefined {
    const messageId: unknown = message.properties.messageId;
    if (typeof messageId !== 'string' || messageId === '') return undefined;
    return { key: ingestDedupeKey(`amqp:${this.options.rabbitmq.queue}`, messageId), ttlS: this.options.dedupeTtlS };
  }

  /** Acknowledges or rejects; a channel that closed meanwhile means the broker redelivers. */
  private settle(channel: Channel, action: () => void): void {
    try {
      action();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, channelOpen: this.channel === channel }, 'message not settled: the broker will redeliver it');
    }
  }

  /** Stops consuming, lets in-flight messages settle (up to `timeoutMs`), closes the connection. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    const channel = this.channel;
    if (channel !== undefined && this.consumerTag !== undefined) {
      await channel.cancel(this.consumerTag).catch(() => undefined);
      await withTimeout(Promise.allSettled([...this.inflight]), timeoutMs, undefined);
    }
    this.setChannel(undefined);
    await this.model?.close().catch(() => undefined);
  }
}
