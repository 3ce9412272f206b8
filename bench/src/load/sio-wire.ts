/**
 * A Socket.IO client reduced to what the fan-out, latency and rooms workloads need, speaking the
 * wire protocol (Engine.IO 4 over a WebSocket, Socket.IO 5 packets on the main namespace) with
 * `ws`. Why not `socket.io-client`: it decodes every packet with JSON.parse and dispatches it
 * through its emitters, which costs a load generator more CPU than the server spends sending it,
 * so on a 2-core machine the loaders, not the servers, set the figure. This client reads an
 * event's name and the benchmark's `"t":` field from the text, as the raw WebSocket loader does,
 * and leaves the server's side of the protocol untouched (every Socket.IO system in the harness
 * gets the same client). Churn keeps the stock client: it exercises connection state recovery.
 */
import WebSocket from 'ws';

export interface SioWireHandlers {
  /** An event packet (`42[...]`): its name and the whole packet text. */
  onEvent(name: string, packet: string): void;
  onClose(): void;
}

export interface SioWireSocket {
  emitWithAck(event: string, arg: string, timeoutMs: number): Promise<unknown>;
  disconnect(): void;
}

const EVENT = '42';
const ACK = '43';
const CONNECT = '40';
const CONNECT_ERROR = '44';
const PING = '2';
const PONG = '3';

/** `http://host:port` → `ws://host:port/socket.io/?EIO=4&transport=websocket`. */
export const engineUrl = (base: string): string => `${base.replace(/^http/, 'ws').replace(/\/$/, '')}/socket.io/?EIO=4&transport=websocket`;

/** The event name of a `42["name",…]` packet (no ack id: servers broadcast without one). */
export function eventName(packet: string): string | undefined {
  if (!packet.startsWith('42["')) return undefined;
  const end = packet.indexOf('"', 4);
  return end < 0 ? undefined : packet.slice(4, end);
}

/** Opens a Socket.IO connection; resolves once the server accepted it on the main namespace. */
export function connectSioWire(base: string, handlers: SioWireHandlers, timeoutMs: number): Promise<SioWireSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(engineUrl(base), { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    const acks = new Map<number, (answer: unknown) => void>();
    let nextAck = 0;
    let connected = false;
    const fail = (err: Error) => {
      if (connected) return;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`Socket.IO connect timed out after ${timeoutMs} ms`)), timeoutMs);
    const socket: SioWireSocket = {
      emitWithAck: (event, arg, ackTimeoutMs) =>
        new Promise((resolveAck, rejectAck) => {
          const id = nextAck++;
          const ackTimer = setTimeout(() => {
            acks.delete(id);
            rejectAck(new Error(`no ack for ${event} within ${ackTimeoutMs} ms`));
          }, ackTimeoutMs);
          acks.set(id, (answer) => {
            clearTimeout(ackTimer);
            resolveAck(answer);
          });
          ws.send(`${EVENT}${id}${JSON.stringify([event, arg])}`);
        }),
      disconnect: () => {
        if (ws.readyState === WebSocket.OPEN) ws.send('41');
        ws.close();
      },
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const packet = data.toString('utf8');
      if (packet.startsWith(EVENT)) handlers.onEvent(eventName(packet) ?? '', packet);
      else if (packet === PING) ws.send(PONG);
      else if (packet.startsWith(ACK)) {
        const open = packet.indexOf('[');
        const id = Number(packet.slice(2, open));
        const answer = (JSON.parse(packet.slice(open)) as unknown[])[0];
        acks.get(id)?.(answer);
        acks.delete(id);
      } else if (packet.startsWith(CONNECT)) {
        connected = true;
        clearTimeout(timer);
        resolve(socket);
      } else if (packet.startsWith(CONNECT_ERROR)) fail(new Error(`Socket.IO connect refused: ${packet.slice(2)}`));
      else if (packet.startsWith('0')) ws.send(CONNECT); // Engine.IO open: join the main namespace
    });
    ws.once('error', (err) => fail(err));
    ws.once('close', () => {
      fail(new Error('closed before the Socket.IO connect'));
      handlers.onClose();
    });
  });
}
