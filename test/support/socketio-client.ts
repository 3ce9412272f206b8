import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { waitFor } from './wait.js';

/** A Socket.IO test client recording every event it receives, in order. */
export class IoClient {
  readonly received: { event: string; args: unknown[] }[] = [];
  private constructor(readonly socket: Socket) {
    socket.onAny((event: string, ...args: unknown[]) => this.received.push({ event, args }));
  }

  /** Connects with the client's default transports (long-polling first, then upgrade). */
  static async connect(url: string, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<IoClient> {
    const socket = io(url, { reconnection: false, forceNew: true, ...options });
    const client = new IoClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
    return client;
  }

  /** The connect_error message a connection attempt ends with. */
  static async refusal(url: string, options: Partial<ManagerOptions & SocketOptions> = {}): Promise<string> {
    const socket = io(url, { reconnection: false, forceNew: true, ...options });
    try {
      return await new Promise<string>((resolve, reject) => {
        socket.once('connect', () => reject(new Error('connection unexpectedly accepted')));
        socket.once('connect_error', (err) => resolve(err.message));
      });
    } finally {
      socket.close();
    }
  }

  ack(event: string, arg: unknown): Promise<unknown> {
    return this.socket.timeout(20_000).emitWithAck(event, arg);
  }

  payloads<T = Record<string, unknown>>(event: string): T[] {
    return this.received.filter((r) => r.event === event).map((r) => r.args[0] as T);
  }

  async next<T = Record<string, unknown>>(event: string, predicate: (payload: T) => boolean = () => true, what = event): Promise<T> {
    return waitFor(() => this.payloads<T>(event).find(predicate), { what });
  }

  close(): void {
    this.socket.close();
  }
}
