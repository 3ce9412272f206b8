import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'socket.io';
import type { ChannelMessage } from '@switchboard/engine';
import { KEY_PREFIX, parseJson, userRoom } from '@switchboard/protocol';
import { reportLifetimeMs } from '@switchboard/state';
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

/**
 * The longest a disconnect waits for the gateways' answers: it returns as soon as every live
 * gateway answered, or after this with those that did (naming the others).
 */
export const DISCONNECT_CEILING_MS = 5_000;

/**
 * The live gateways (zset gateway → last announced, ms): each announces itself every report
 * interval (LOG_METRICS_INTERVAL_MS, as its node reports) and counts as live while its latest
 * announcement is as fresh as a node report must be.
 */
export const CONTROL_GATEWAYS_KEY = `${KEY_PREFIX}control:gateways`;

/** A disconnect's outcome: connections closed, and which live gateways answered in time. */
export interface DisconnectResult {
  disconnected: number;
  gateways: {
    /** Live gateways when the request went out (their announcement fresh). */
    expected: number;
    /** Gateways that answered (a gateway that started since is counted too). */
    answered: number;
    /** Live gateways that did not answer within DISCONNECT_CEILING_MS. */
    missing: string[];
  };
}

type ControlMessage =
  | { type: 'disconnect'; requestId: string; userId: string }
  | { type: 'disconnected'; requestId: string; count: number; node: string };

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * Disconnects a user's connections on every gateway: the gateway asked publishes the request on
 * the control channel, each gateway (itself included) closes the user's connections and answers
 * how many. The result is the total once every live gateway answered (see CONTROL_GATEWAYS_KEY),
 * or at DISCONNECT_CEILING_MS with the answers received and the gateways that did not answer.
 */
export class UserDisconnects {
  /** Answers awaited, by request: called with the answering gateway and its count. */
  private readonly waiting = new Map<string, (node: string, count: number) => void>();
  /** Requests this gateway answered lately (see onMessage). */
  private readonly handled = new Set<string>();
  /** This gateway among the live ones (unique per process, whatever NODE_ID). */
  readonly gatewayId: string;
  private announcer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly io: Server,
  ) {
    this.gatewayId = `${ctx.config.nodeId}:${randomBytes(4).toString('hex')}`;
    this.intervalMs = ctx.config.logMetricsIntervalMs;
  }

  async start(): Promise<void> {
    await this.ctx.engine.subscribe(USER_CONTROL_CHANNEL, this.onMessage);
    await this.announce();
    this.announcer = setInterval(() => {
      this.announce().catch((err: unknown) => this.ctx.logger.warn({ err }, 'gateway not announced for disconnects; retrying at the next interval'));
    }, this.intervalMs);
    this.announcer.unref();
  }

  /**
   * On drain: stops answering and marks this gateway gone at once (an announcement dated 0 is
   * stale for every reader), so a disconnect asked meanwhile does not wait for it to the ceiling.
   */
  async stop(): Promise<void> {
    clearInterval(this.announcer);
    await this.ctx.engine.unsubscribe(USER_CONTROL_CHANNEL, this.onMessage);
    await this.ctx.engine.commit({ guard: { kind: 'none' }, ops: [{ op: 'zadd', key: CONTROL_GATEWAYS_KEY, score: 0, member: this.gatewayId }] });
  }

  /** Closes every connection of `userId` on every gateway: how many, and which gateways answered. */
  async disconnect(userId: string): Promise<DisconnectResult> {
    const requestId = randomUUID();
    const expected = await this.liveGateways();
    // Each answering gateway's count: counted once, its largest if it came twice (a delivery repeated by pub/sub).
    const answered = new Map<string, number>();
    let total = 0;
    let allAnswered: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allAnswered = resolve));
    this.waiting.set(requestId, (node, count) => {
      const before = answered.get(node);
      if (before !== undefined && before >= count) return;
      answered.set(node, count);
      total += count - (before ?? 0);
      if (expected.every((gateway) => answered.has(gateway))) allAnswered();
    });
    let ceiling: NodeJS.Timeout | undefined;
    try {
      await this.publish({ type: 'disconnect', requestId, userId });
      await Promise.race([done, new Promise((resolve) => (ceiling = setTimeout(resolve, DISCONNECT_CEILING_MS)))]);
      const missing = expected.filter((gateway) => !answered.has(gateway)).sort();
      if (missing.length > 0) this.ctx.logger.warn({ userId, missing }, 'disconnect: gateways did not answer in time');
      return { disconnected: total, gateways: { expected: expected.length, answered: answered.size, missing } };
    } finally {
      clearTimeout(ceiling);
      this.waiting.delete(requestId);
    }
  }

  /** Gateways whose announcement is fresh (this one always: it answers its own requests). */
  private async liveGateways(): Promise<string[]> {
    const [live = []] = await this.ctx.engine.readStrings([{ op: 'zrangebyscore', key: CONTROL_GATEWAYS_KEY, min: Date.now() - reportLifetimeMs(this.intervalMs) }]);
    return [...new Set([...live, this.gatewayId])];
  }

  private async announce(): Promise<void> {
    const now = Date.now();
    await this.ctx.engine.commit({
      guard: { kind: 'none' },
      ops: [
        { op: 'zadd', key: CONTROL_GATEWAYS_KEY, score: now, member: this.gatewayId },
        // Forgets gateways gone long ago.
        { op: 'zremrangebyscore', key: CONTROL_GATEWAYS_KEY, max: now - 2 * reportLifetimeMs(this.intervalMs) },
      ],
    });
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
      // A request delivered twice is answered once (a second answer would say 0: all closed already).
      const requestId = value['requestId'];
      if (this.handled.has(requestId)) return;
      this.handled.add(requestId);
      setTimeout(() => this.handled.delete(requestId), 2 * DISCONNECT_CEILING_MS).unref();
      const count = this.closeLocal(value['userId']);
      if (count > 0) this.ctx.logger.info({ userId: value['userId'], count }, 'user disconnected by an administrator');
      this.publish({ type: 'disconnected', requestId, count, node: this.gatewayId }).catch((err: unknown) => {
        this.ctx.logger.warn({ err }, 'disconnect answer not published');
      });
    } else if (value['type'] === 'disconnected' && typeof value['count'] === 'number' && typeof value['node'] === 'string') {
      this.waiting.get(value['requestId'])?.(value['node'], value['count']);
    }
  };

  private async publish(message: ControlMessage): Promise<void> {
    await this.ctx.engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: USER_CONTROL_CHANNEL, frame: JSON.stringify(message) } });
  }
}
