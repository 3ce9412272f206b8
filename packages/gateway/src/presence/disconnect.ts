import { randomUUID } from 'node:crypto';
import type { Server } from 'socket.io';
import type { ChannelMessage } from '@switchboard/engine';
import { KEY_PREFIX, parseJson, userRoom } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';

/** The engine channel gateways ask each other to disconnect a user on. */
export const USER_CONTROL_CHANNEL = `${KEY_PREFIX}ch:control:users`;

/**
 * Raw connections of a disconnected user are closed with 1008 (policy violation) and this
 * reason: the SDK takes 1008 as a refusal of its credentials and does not reconnect with them.
 * Socket.IO connections are disconnected by the server (`io server disconnect`), which
 * socket.io-client does not reconnect after either.
 */
export const CLOSE_DISCONNECTED = 1008;
export const DISCONNECTED_REASON = 'disconnected by an administrator';

/** How long a disconnect waits for the gateways' answers. */
export const DISCONNECT_ANSWER_MS = 1_000;

type ControlMessage =
  | { type: 'disconnect'; requestId: string; userId: string }
  | { type: 'disconnected'; requestId: string; count: number; node: string };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * Disconnects a user's connections on every gateway: the gateway asked publishes the request on
 * the control channel, each gateway (itself included) closes the user's connections and answers
 * how many; the total of the answers received within DISCONNECT_ANSWER_MS is the result.
 */
export class UserDisconnects {
  private readonly waiting = new Map<string, (count: number) => void>();

  constructor(
    private readonly ctx: GatewayContext,
    private readonly io: Server,
  ) {}

  async start(): Promise<void> {
    await this.ctx.engine.subscribe(USER_CONTROL_CHANNEL, this.onMessage);
  }

  async stop(): Promise<void> {
    await this.ctx.engine.unsubscribe(USER_CONTROL_CHANNEL, this.onMessage);
  }

  /** Closes every connection of `userId` on every gateway; how many were closed. */
  async disconnect(userId: string): Promise<number> {
    const requestId = randomUUID();
    let total = 0;
    this.waiting.set(requestId, (count) => (total += count));
    try {
      await this.publish({ type: 'disconnect', requestId, userId });
      await new Promise((resolve) => setTimeout(resolve, DISCONNECT_ANSWER_MS));
      return total;
    } finally {
      this.waiting.delete(requestId);
    }
  }

  /** This gateway's connections of `userId` (its JWT `sub`), closed. */
  closeLocal(userId: string): number {
    const raw = this.ctx.connections.closeWhere((data) => data.claims?.['sub'] === userId, CLOSE_DISCONNECTED, DISCONNECTED_REASON);
    const nsp = this.io.of('/');
    let sockets = 0;
    for (const id of [...(nsp.adapter.rooms.get(userRoom(userId)) ?? [])]) {
      const socket = nsp.sockets.get(id);
      if (socket === undefined) continue;
      socket.disconnect(true);
      sockets += 1;
    }
    return raw + sockets;
  }

  private readonly onMessage = (message: ChannelMessage): void => {
    const parsed = parseJson(message.frame);
    const value = parsed.ok ? parsed.value : undefined;
    if (!isRecord(value) || typeof value['requestId'] !== 'string') return;
    if (value['type'] === 'disconnect' && typeof value['userId'] === 'string') {
      const count = this.closeLocal(value['userId']);
      if (count > 0) this.ctx.logger.info({ userId: value['userId'], count }, 'user disconnected by an administrator');
      this.publish({ type: 'disconnected', requestId: value['requestId'], count, node: this.ctx.config.nodeId }).catch((err: unknown) => {
        this.ctx.logger.warn({ err }, 'disconnect answer not published');
      });
    } else if (value['type'] === 'disconnected' && typeof value['count'] === 'number') {
      this.waiting.get(value['requestId'])?.(value['count']);
    }
  };

  private async publish(message: ControlMessage): Promise<void> {
    await this.ctx.engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: USER_CONTROL_CHANNEL, frame: JSON.stringify(message) } });
  }
}
