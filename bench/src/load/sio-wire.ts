/**
 * A Socket.IO client reduced to what the fan-out, latency and rooms workloads need, speaking the
 * wire protocol (Engine.IO 4 over a WebSocket, Socket.IO 5 packets on the main namespace) with
 * `ws`. Why not `socket.io-client`: it decodes every packet with JSON.parse and dispatches it
 * through its emitters, which costs a load generator more CPU than the server spends sending it,
 * so on a 2-core machine the loaders, not the servers, set the figure. This client reads an
 * event's name and the benchmark's `"t":` field from the text, as the raw WebSocket loader does,
 * and leaves the server's side of the protocol untouched (every Socket.IO system in the harness
 * gets the same client). Connection state recovery works as in the stock client: the session's
 * private id comes with the connect, each event's last string argument is the offset to recover
 * from, and a reconnect sends both (`SioSession`).
 */
import WebSocket from 'ws';

export interface SioWireHandlers {
  /**
   * An event packet (`42[...]`): its name and the packet's bytes (UTF-8), undecoded: what a
   * loader reads of it (the send time) it reads from the bytes.
   */
  onEvent(name: string, packet: Buffer): void;
  onClose(): void;
}

export interface SioWireSocket {
  emitWithAck(event: string, arg: string, timeoutMs: number): Promise<unknown>;
  disconnect(): void;
  /** Cuts the connection as a network would (no goodbye): the server keeps the session. */
  terminate(): void;
  /** Whether the server restored the session this connect asked for. */
  readonly recovered: boolean;
}

/**
 * What a client needs to recover its Socket.IO session, kept across connections as
 * socket.io-client keeps it: the private session id from the connect, and the offset of the
 * last event processed (its last argument when a string).
 */
export class SioSession {
  pid: string | undefined;
  offset: string | undefined;

  /** The connect packet: with the session to recover when there is one. */
  connectPacket(): string {
    return this.pid === undefined || this.offset === undefined ? CONNECT : `${CONNECT}${JSON.stringify({ pid: this.pid, offset: this.offset })}`;
  }

  /** Reads the server's connect answer (`40{"sid":…,"pid":…}`): whether it restored this session. */
  connected(packet: string): boolean {
    let pid: unknown;
    try {
      pid = (JSON.parse(packet.slice(2)) as { pid?: unknown }).pid;
    } catch {
      pid = undefined;
    }
    const recovered = typeof pid === 'string' && pid === this.pid;
    this.pid = typeof pid === 'string' ? pid : undefined;
    if (!recovered) this.offset = undefined;
    return recovered;
  }

  /** An event packet processed: its last argument, when a string, is the offset to recover from. */
  processed(packet: string): void {
    if (this.pid === undefined) return;
    const offset = lastStringArgument(packet);
    if (offset !== undefined) this.offset = offset;
  }
}

/** The last argument of an event packet (`42[…,"x"]`) when it is a string without escapes. */
export function lastStringArgument(packet: string): string | undefined {
  if (!packet.endsWith('"]')) return undefined;
  const start = packet.lastIndexOf('"', packet.length - 3);
  if (start < 0) return undefined;
  const before = packet[start - 1];
  if (before !== ',' && before !== '[') return undefined;
  const value = packet.slice(start + 1, packet.length - 2);
  return value.includes('\\') ? undefined : value;
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
export function eventName(packet: Buffer): string | undefined {
  if (packet[0] !== CHAR_4 || packet[1] !== CHAR_2 || packet[2] !== OPEN_BRACKET || packet[3] !== QUOTE) return undefined;
  const end = packet.indexOf(QUOTE, 4);
  return end < 0 ? undefined : packet.toString('utf8', 4, end);
}

const CHAR_4 = 0x34;
const CHAR_2 = 0x32;
const OPEN_BRACKET = 0x5b;
const QUOTE = 0x22;

/**
 * Opens a Socket.IO connection; resolves once the server accepted it on the main namespace.
 * With `session`, asks to recover it and keeps it up to date.
 */
export function connectSioWire(base: string, handlers: SioWireHandlers, timeoutMs: number, session?: SioSession): Promise<SioWireSocket> {
  return new Promise((resolve, reject) => {
    // The servers under test are trusted to send UTF-8 (as the raw loader trusts them).
    const ws = new WebSocket(engineUrl(base), { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: timeoutMs });
    const acks = new Map<number, (answer: unknown) => void>();
    let nextAck = 0;
    let connected = false;
    let recovered = false;
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
      terminate: () => ws.terminate(),
      get recovered() {
        return recovered;
      },
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      // Event packets, nearly all the traffic, are not decoded as a whole unless a session needs their offset.
      if (data[0] === CHAR_4 && data[1] === CHAR_2) {
        handlers.onEvent(eventName(data) ?? '', data);
        session?.processed(data.toString('utf8'));
        return;
      }
      const packet = data.toString('utf8');
      if (packet === PING) ws.send(PONG);
      else if (packet.startsWith(ACK)) {
        const open = packet.indexOf('[');
        const id = Number(packet.slice(2, open));
        const answer = (JSON.parse(packet.slice(open)) as unknown[])[0];
        acks.get(id)?.(answer);
        acks.delete(id);
      } else if (packet.startsWith(CONNECT)) {
        recovered = session?.connected(packet) ?? false;
        connected = true;
        clearTimeout(timer);
        resolve(socket);
      } else if (packet.startsWith(CONNECT_ERROR)) fail(new Error(`Socket.IO connect refused: ${packet.slice(2)}`));
      else if (packet.startsWith('0')) ws.send(session?.connectPacket() ?? CONNECT); // Engine.IO open: join the main namespace
    });
    ws.once('error', (err) => fail(err));
    ws.once('close', () => {
      fail(new Error('closed before the Socket.IO connect'));
      handlers.onClose();
    });
  });
}
