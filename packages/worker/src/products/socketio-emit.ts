import { Emitter } from '@socket.io/redis-emitter';
import { SOCKET_IO_CHANNEL_PREFIX } from '@switchboard/protocol';

export type Broadcast = { channel: string; message: Buffer };

/**
 * Encodes Socket.IO room emits with @socket.io/redis-emitter — the Redis adapter's own wire
 * protocol — but captures the PUBLISH calls instead of sending them, so they go out inside the
 * worker's atomic commit (applied once, together with the acknowledgement).
 */
export function captureEmits(emit: (emitter: Emitter) => void): Broadcast[] {
  const captured: Broadcast[] = [];
  const capturingClient = {
    publish(channel: string, message: Buffer | string) {
      captured.push({ channel, message: typeof message === 'string' ? Buffer.from(message) : message });
    },
  };
  emit(new Emitter(capturingClient, { key: SOCKET_IO_CHANNEL_PREFIX }));
  return captured;
}
