import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

export interface Connection {
  socket: WebSocket;
  request: IncomingMessage;
  /** Messages this connection received, parsed. */
  received: Record<string, unknown>[];
}

/**
 * A real in-process WebSocket server (the `ws` package) that plays the gateway's part in unit
 * tests: it sends whatever frames a test wants, including broken ones.
 */
export async function startLocalServer(options: {
  onConnection?: (connection: Connection) => void;
  /** HTTP status to refuse upgrades with (e.g. 401), given the request, optionally with headers. */
  refuse?: (request: IncomingMessage) => number | { status: number; headers: Record<string, string> } | undefined;
} = {}) {
  const connections: Connection[] = [];
  const server = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    verifyClient: (info, done) => {
      const refusal = options.refuse?.(info.req);
      if (refusal === undefined) done(true);
      else if (typeof refusal === 'number') done(false, refusal, 'Authentication failed');
      else done(false, refusal.status, 'Refused', refusal.headers);
    },
  });
  server.on('connection', (socket, request) => {
    const connection: Connection = { socket, request, received: [] };
    connections.push(connection);
    socket.on('message', (data) => connection.received.push(JSON.parse(messageText(data)) as Record<string, unknown>));
    options.onConnection?.(connection);
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    connections,
    attempts: () => connections.length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

/** The text of a `ws` message (a Buffer with the default binaryType; fragments and ArrayBuffers handled too). */
export function messageText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export const stats = (n: number) => ({ current_visitors: n, unique_today: n, total_events: n, letters_today: 0, timestamp: 1_795_312_149 });

export async function until<T>(check: () => T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
