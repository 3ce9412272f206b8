import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '@switchboard/config';
import type { Engine, PresenceMember } from '@switchboard/engine';
import type { SocketData } from '../ws/connections.js';
import { PRESENCE_CHANNELS, isClientId } from './channels.js';
import { PresenceTracker } from './tracker.js';

/** Raw endpoints whose every connection is on one channel. */
const ENDPOINT_CHANNELS: Readonly<Record<string, string>> = {
  analytics: PRESENCE_CHANNELS.analytics,
  availability: PRESENCE_CHANNELS.availability,
};

const subOf = (claims: Record<string, unknown> | undefined): string | null => {
  const sub = claims?.['sub'];
  return typeof sub === 'string' && sub !== '' ? sub : null;
};

/** The clientId of a new connection: the one it chose (`?clientId=`), or a fresh one. */
export const connectionClientId = (chosen: string): string => (isClientId(chosen) ? chosen : randomUUID());

/**
 * The gateway's presence: what the endpoints call on open, close, join and leave. Every call is
 * synchronous and cheap (the tracker batches the writes).
 */
export class GatewayPresence {
  readonly tracker: PresenceTracker;

  constructor(engine: Engine, config: Config, logger: Logger) {
    // Unique per process: a restarted gateway never removes members its predecessor handed over.
    const owner = `${config.nodeId}:${randomBytes(4).toString('hex')}`;
    this.tracker = new PresenceTracker(engine, { ...config.presence, owner, logger: logger.child({ component: 'presence' }) });
  }

  start(): void {
    this.tracker.start();
  }

  stop(): void {
    this.tracker.stop();
  }

  /** A socket's member: its clientId, its user (the JWT `sub`, or `userId`), its endpoint. */
  member(data: SocketData, userId: string | null = subOf(data.claims)): PresenceMember {
    return { clientId: data.presenceId, userId, info: { endpoint: data.endpoint } };
  }

  /** A raw socket opened: on the analytics and availability endpoints, it joins their channel. */
  opened(data: SocketData): void {
    const channel = ENDPOINT_CHANNELS[data.endpoint];
    if (channel !== undefined) this.tracker.join(channel, this.member(data));
  }

  closed(data: SocketData): void {
    const channel = ENDPOINT_CHANNELS[data.endpoint];
    if (channel !== undefined) this.tracker.leave(channel, data.presenceId);
  }

  join(channel: string, member: PresenceMember): void {
    this.tracker.join(channel, member);
  }

  leave(channel: string, clientId: string): void {
    this.tracker.leave(channel, clientId);
  }
}
