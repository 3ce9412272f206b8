import notepack from 'notepack.io';
import type { Server } from 'socket.io';
import type { Engine } from '@switchboard/engine';
import { SOCKET_IO_CHANNEL_PREFIX } from '@switchboard/protocol';
import type { GatewayMetrics } from '../metrics.js';

type Packet = { nsp?: string; type: number; data: unknown[] };
type BroadcastOpts = { rooms?: string[]; except?: string[]; flags?: Record<string, unknown> };
/** @socket.io/redis-adapter request type for "make matching sockets leave rooms". */
const REMOTE_LEAVE = 3;

/**
 * The in-memory engine has no Redis adapter: this feeds the worker's adapter-protocol messages
 * (the same bytes @socket.io/redis-emitter publishes on Redis) into the local Socket.IO server,
 * so `npm start` behaves like the cluster.
 */
export async function bridgeLocalEmits(io: Server, engine: Engine, metrics: GatewayMetrics): Promise<void> {
  await engine.subscribePrefix(`${SOCKET_IO_CHANNEL_PREFIX}#`, (_channel, message) => {
    metrics.socketioBroadcasts.inc({ kind: 'broadcast' });
    const [, packet, opts] = notepack.decode(message) as [string, Packet, BroadcastOpts];
    io.of(packet.nsp ?? '/').adapter.broadcast(packet as never, {
      rooms: new Set(opts.rooms ?? []),
      except: new Set(opts.except ?? []),
      flags: opts.flags ?? {},
    });
  });
  await engine.subscribePrefix(`${SOCKET_IO_CHANNEL_PREFIX}-request#`, (channel, message) => {
    metrics.socketioBroadcasts.inc({ kind: 'request' });
    const request = JSON.parse(message.toString()) as { type: number; opts: BroadcastOpts; rooms: string[] };
    if (request.type !== REMOTE_LEAVE) return;
    const nsp = channel.split('#')[1] ?? '/';
    io.of(nsp).adapter.delSockets({ rooms: new Set(request.opts.rooms ?? []), except: new Set(request.opts.except ?? []) }, request.rooms);
  });
}
