import type { ERROR_CLIENT_EVENTS as ProtocolClientEvents, ERROR_EVENTS as ProtocolEvents, ErrorEventRecord } from '@switchboard/protocol';
import { isObject, isString, isStringOrNull } from '../core/guards.js';
import { SocketIoClient, type SocketIoBaseEvents, type SocketIoClientOptions } from './base.js';

// The wire names, checked against the protocol's at compile time without importing its runtime.
const ERROR_EVENTS: typeof ProtocolEvents = { new: 'error:new', service: 'error:service', level: 'error:level' };
const CLIENT_EVENTS: typeof ProtocolClientEvents = {
  subscribeService: 'subscribe:service',
  unsubscribeService: 'unsubscribe:service',
  subscribeLevel: 'subscribe:level',
  unsubscribeLevel: 'unsubscribe:level',
};

export type ErrorMonitorEvents = SocketIoBaseEvents & {
  /** Every ingested error (all clients). */
  'error:new': ErrorEventRecord;
  /** Errors of the services this client subscribed to. */
  'error:service': ErrorEventRecord;
  /** Errors of the levels this client subscribed to. */
  'error:level': ErrorEventRecord;
};

export function readErrorRecord(payload: unknown): ErrorEventRecord | string {
  if (!isObject(payload)) return 'expected an object';
  const { id, service, message, stack, path, method, level, metadata, createdAt } = payload;
  if (!isString(id) || !isString(service) || !isString(level) || !isString(createdAt)) return 'id, service, level and createdAt must be strings';
  if (!isStringOrNull(message) || !isStringOrNull(stack) || !isStringOrNull(path) || !isStringOrNull(method)) return 'message, stack, path and method must be strings or null';
  if (metadata !== null && metadata !== undefined && !isObject(metadata)) return 'metadata must be an object or null';
  return { id, service, message, stack, path, method, level, metadata: metadata ?? null, createdAt };
}

/** The error monitor (docs/protocol-socketio.md): the live error feed and per-service / per-level rooms. */
export class ErrorMonitorClient extends SocketIoClient<ErrorMonitorEvents> {
  constructor(options: SocketIoClientOptions) {
    super(options);
    for (const event of [ERROR_EVENTS.new, ERROR_EVENTS.service, ERROR_EVENTS.level] as const) {
      this.listen(event, readErrorRecord, (record) => this.emit(event, record));
    }
  }

  subscribeService(service: string): Promise<void> {
    return this.subscribeTo(CLIENT_EVENTS.subscribeService, service);
  }

  unsubscribeService(service: string): Promise<void> {
    return this.unsubscribeFrom(CLIENT_EVENTS.subscribeService, CLIENT_EVENTS.unsubscribeService, service);
  }

  subscribeLevel(level: string): Promise<void> {
    return this.subscribeTo(CLIENT_EVENTS.subscribeLevel, level);
  }

  unsubscribeLevel(level: string): Promise<void> {
    return this.unsubscribeFrom(CLIENT_EVENTS.subscribeLevel, CLIENT_EVENTS.unsubscribeLevel, level);
  }
}
