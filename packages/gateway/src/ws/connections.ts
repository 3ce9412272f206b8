import type { WebSocket } from 'uWebSockets.js';
import type { GatewayMetrics } from '../metrics.js';

/** What every socket carries, whatever its endpoint. */
export interface SocketData {
  /** Process-unique connection number (rate-limit key, logs). */
  id: number;
  endpoint: string;
  /** The client's address key, which the per-address connection cap counts this socket under. */
  address: string;
  /** Verified JWT claims, when the client presented a token. */
  claims: Record<string, unknown> | undefined;
  /** Set in the close handler: a closed uWS socket must never be touched again. */
  closed: boolean;
  /** Its presence clientId (`?clientId=` on the upgrade, or a fresh one; set by the admission): see presence/. */
  presenceId?: string;
}

let nextId = 1;
export const nextConnectionId = (): number => nextId++;

/** Every open socket of this node, by endpoint: counts for /health and metrics, and the drain list. */
export class ConnectionRegistry {
  /** Raw sockets, held for the drain. */
  private readonly sockets = new Set<WebSocket<SocketData>>();
  /** Open connections by endpoint, raw and external (Socket.IO: counted here, held by its server). */
  private readonly perEndpoint = new Map<string, number>();
  private readonly listeners: (() => void)[] = [];
  private open = 0;

  constructor(
    private readonly metrics: GatewayMetrics,
    /** Told of every raw socket's open and close, by client address (the per-address cap). */
    private readonly addresses?: { opened(address: string): void; closed(address: string): void },
  ) {}

  get total(): number {
    return this.open;
  }

  private counted(endpoint: string, delta: 1 | -1): void {
    this.open += delta;
    this.perEndpoint.set(endpoint, this.count(endpoint) + delta);
    if (delta === 1) this.metrics.connections.inc({ endpoint });
    else this.metrics.connections.dec({ endpoint });
    for (const listener of this.listeners) listener();
  }

  addExternal(endpoint: string): void {
    this.counted(endpoint, 1);
  }

  removeExternal(endpoint: string, reason: string): void {
    this.counted(endpoint, -1);
    this.metrics.disconnects.inc({ endpoint, code: reason });
  }

  /** Called after every open and close. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Open sockets of one endpoint. */
  count(endpoint: string): number {
    return this.perEndpoint.get(endpoint) ?? 0;
  }

  add(ws: WebSocket<SocketData>): void {
    this.sockets.add(ws);
    this.addresses?.opened(ws.getUserData().address);
    this.counted(ws.getUserData().endpoint, 1);
  }

  remove(ws: WebSocket<SocketData>, code: number): void {
    const data = ws.getUserData();
    data.closed = true;
    if (this.sockets.delete(ws)) {
      this.addresses?.closed(data.address);
      this.counted(data.endpoint, -1);
      this.metrics.disconnects.inc({ endpoint: data.endpoint, code: String(code) });
    }
  }

  /** Closes the open sockets `matches` selects (an administrator's disconnect); how many. */
  closeWhere(matches: (data: SocketData) => boolean, code: number, reason: string): number {
    let closed = 0;
    for (const ws of [...this.sockets]) {
      const data = ws.getUserData();
      if (data.closed || !matches(data)) continue;
      ws.end(code, reason);
      closed += 1;
    }
    return closed;
  }

  /** Closes every socket with `code` (1012 on shutdown: clients reconnect to another node). */
  closeAll(code: number, reason: string): void {
    for (const ws of [...this.sockets]) {
      if (!ws.getUserData().closed) ws.end(code, reason);
    }
  }
}
