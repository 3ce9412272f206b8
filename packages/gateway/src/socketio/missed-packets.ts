import type { Socket } from 'socket.io';
import { SOCKET_IO_EVENT_PACKET } from '@switchboard/protocol';

/** How many encoded missed packets the restores of one namespace share. */
export const MISSED_PACKET_CACHE = 4096;

/**
 * Missed packets as Socket.IO writes them (`2[<nsp>,]<JSON of the arguments>`), encoded once for
 * every restored socket that missed them: the sockets of a drained gateway, or of a network
 * blip, miss the same packets. A missed packet's last argument is its recovery offset, which
 * names the frame and part it comes from, so it is the key; the oldest are forgotten past
 * `capacity`. Socket.IO's own replay encodes each packet again for every socket.
 */
export class MissedPacketEncoder {
  private readonly encoded = new Map<string, string>();
  private readonly prefix: string;

  constructor(
    namespace: string,
    private readonly capacity = MISSED_PACKET_CACHE,
  ) {
    this.prefix = `${SOCKET_IO_EVENT_PACKET}${namespace === '/' ? '' : `${namespace},`}`;
  }

  encode(packet: readonly unknown[]): string {
    const offset = packet.at(-1);
    if (typeof offset !== 'string') return this.prefix + JSON.stringify(packet);
    let text = this.encoded.get(offset);
    if (text === undefined) {
      text = this.prefix + JSON.stringify(packet);
      this.encoded.set(offset, text);
      // A Map iterates in insertion order: the first key is the oldest.
      if (this.encoded.size > this.capacity) this.encoded.delete(this.encoded.keys().next().value as string);
    }
    return text;
  }
}

interface EngineTransport {
  name: string;
  /** The uWebSockets.js WebSocket of a WebSocket transport (Socket.IO on `attachApp`). */
  socket?: { cork?(write: () => void): void };
}

/**
 * Writes encoded packets to a socket as Socket.IO would write its own (through its client, to
 * the engine.io connection), corked on uWebSockets.js: one write to the network for all of them
 * instead of one per packet.
 */
export function writeEncodedPackets(socket: Socket, encoded: string[]): void {
  if (encoded.length === 0) return;
  const client = socket.client as unknown as { _packet(packets: string[], opts: { preEncoded: true }): void };
  const transport = (socket.conn as unknown as { transport: EngineTransport }).transport;
  const write = () => client._packet(encoded, { preEncoded: true });
  const ws = transport.name === 'websocket' ? transport.socket : undefined;
  if (ws?.cork !== undefined) ws.cork(write);
  else write();
}
