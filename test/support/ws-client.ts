import WebSocket from 'ws';
import { waitFor } from './wait.js';

/** The text of a `ws` message (a Buffer with the default binaryType; fragments and ArrayBuffers handled too). */
export function messageText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export interface Frame {
  type: string;
  [field: string]: unknown;
}

/** Resolves once `ws` is open; rejects on an error or a refused upgrade (naming its status). */
export function opened(ws: WebSocket): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
}

/** A WebSocket test client that records every frame with its arrival time. */
export class TestClient {
  readonly frames: { frame: Frame; at: number }[] = [];
  closed: { code: number; reason: string } | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : messageText(data);
      this.frames.push({ frame: JSON.parse(text) as Frame, at: Date.now() });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    await opened(ws);
    return client;
  }

  /** Resolves with the HTTP status of a refused upgrade. */
  static async refusal(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
    const ws = new WebSocket(url, options);
    return new Promise((resolve, reject) => {
      ws.once('open', () => reject(new Error('upgrade unexpectedly accepted')));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.once('error', () => undefined);
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  of(type: string): Frame[] {
    return this.frames.filter((f) => f.frame.type === type).map((f) => f.frame);
  }

  /** Waits for the first frame after index `from` matching the predicate. */
  async next(predicate: (frame: Frame) => boolean, { from = 0, timeoutMs = 20_000, what = 'frame' } = {}): Promise<Frame> {
    return waitFor(() => this.frames.slice(from).find((f) => predicate(f.frame))?.frame, { timeoutMs, what });
  }

  async waitClosed(timeoutMs = 20_000): Promise<{ code: number; reason: string }> {
    return waitFor(() => this.closed, { timeoutMs, what: 'close' });
  }

  close(): void {
    this.ws.close();
  }
}
