import WebSocket from 'ws';
import { waitFor } from './wait.js';
import { messageText, opened } from './ws-client.js';

/**
 * A WebSocket client that keeps every text frame exactly as it arrived and never throws on what
 * the server sends: a test can then assert that each frame is valid JSON, rather than crash on
 * the first one that is not.
 */
export class FrameRecorder {
  readonly texts: string[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.texts.push(isBinary ? '<binary frame>' : messageText(data));
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on('error', () => undefined);
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<FrameRecorder> {
    const ws = new WebSocket(url, options);
    const recorder = new FrameRecorder(ws);
    await opened(ws);
    return recorder;
  }

  /** Frames that are not a JSON object (a client would fail to parse them). */
  invalid(): string[] {
    return this.texts.filter((text) => parseObject(text) === undefined);
  }

  /** Every frame that parses, as an object. */
  frames(): Record<string, unknown>[] {
    return this.texts.map(parseObject).filter((f): f is Record<string, unknown> => f !== undefined);
  }

  /** Waits for the first parsed frame from index `from` matching the predicate. */
  async next(
    predicate: (frame: Record<string, unknown>) => boolean,
    { from = 0, timeoutMs = 20_000, what = 'frame' } = {},
  ): Promise<Record<string, unknown>> {
    return waitFor(() => this.texts.slice(from).map(parseObject).find((f) => f !== undefined && predicate(f)), { timeoutMs, what });
  }

  send(value: unknown): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }

  close(): void {
    this.ws.close();
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
