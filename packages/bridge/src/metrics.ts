import { Counter, Gauge, type Registry } from 'prom-client';

export type BridgeMetrics = ReturnType<typeof createBridgeMetrics>;

export function createBridgeMetrics(registry: Registry) {
  return {
    messages: new Counter({
      name: 'switchboard_bridge_messages_total',
      help: 'RabbitMQ messages handled: forwarded (queued in the ingest stream, then acknowledged) or rejected (malformed: nacked without requeue, dead-lettered when the queue has a dead-letter exchange).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'switchboard_bridge_duplicates_total',
      help: 'RabbitMQ messages whose messageId was already forwarded (a redelivery or a republish): acknowledged without a second ingest entry.',
      registers: [registry],
    }),
    forwardRetries: new Counter({
      name: 'switchboard_bridge_forward_retries_total',
      help: 'Ingest appends that failed (Redis unreachable) and were retried; the message stays unacknowledged meanwhile.',
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'switchboard_bridge_broker_connected',
      help: '1 while the bridge is connected to RabbitMQ and consuming.',
      registers: [registry],
    }),
    reconnects: new Counter({
      name: 'switchboard_bridge_reconnect_attempts_total',
      help: 'Reconnection attempts to RabbitMQ (exponential backoff with jitter, 100 ms to 5 s).',
      registers: [registry],
    }),
  };
}
