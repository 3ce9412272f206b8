import type { Socket } from 'socket.io';

/** Socket.IO's uWS topic names: the namespace, and `<namespace>\x1f<room>` per room. */
const SEPARATOR = '\x1f';

/** The uWS topic of a broadcast to `room` of `nsp` (to the whole namespace when undefined). */
export const roomTopic = (nsp: string, room: string | undefined): string => (room === undefined ? nsp : `${nsp}${SEPARATOR}${room}`);

/** What publishes to uWS topics: the gateway's uWebSockets.js app. */
export interface TopicPublisher {
  publish(topic: string, message: string, isBinary?: boolean): boolean;
}

interface UwsWebSocket {
  subscribe(topic: string): boolean;
}
interface EngineConnection {
  transport: { name: string; socket?: UwsWebSocket };
  once(event: 'upgrade', listener: () => void): void;
}

/**
 * On uWebSockets.js, Socket.IO delivers room broadcasts by publishing to uWS topics, and
 * subscribes a socket to its topics as it joins rooms. A recovered socket joins its rooms before
 * Socket.IO registers it, so it is subscribed to none of them (socket.io 4.8): subscribe it here,
 * once it is connected, or once it upgrades to WebSocket when it came back over long-polling.
 */
export function subscribeRecoveredTopics(socket: Socket): void {
  const conn = socket.conn as unknown as EngineConnection;
  const subscribe = () => {
    const ws = conn.transport.socket;
    if (conn.transport.name !== 'websocket' || ws === undefined || !socket.connected) return;
    ws.subscribe(socket.nsp.name);
    for (const room of socket.rooms) ws.subscribe(roomTopic(socket.nsp.name, room));
  };
  if (conn.transport.name === 'websocket') subscribe();
  else conn.once('upgrade', subscribe);
}

interface EngineIoServer {
  on(event: 'connection', listener: (conn: EngineConnection & { once(event: 'close', listener: () => void): void }) => void): void;
}

/**
 * The engine.io connections of this gateway still on HTTP long-polling. On uWebSockets.js,
 * Socket.IO publishes a broadcast to a uWS topic (encoded once, written by uWS to every WebSocket
 * subscriber) and then walks every socket of the audience for the few on long-polling, to write
 * to those one by one; with none here, that walk is per-socket work for nothing.
 */
export class LongPollingCount {
  private current = 0;

  get count(): number {
    return this.current;
  }

  /** Follows `engine`'s connections: counted from their start on long-polling to their upgrade or close. */
  watch(engine: EngineIoServer): void {
    engine.on('connection', (conn) => {
      if (conn.transport.name === 'websocket') return;
      this.current += 1;
      let counted = true;
      const done = () => {
        if (!counted) return;
        counted = false;
        this.current -= 1;
      };
      conn.once('upgrade', done);
      conn.once('close', done);
    });
  }
}
