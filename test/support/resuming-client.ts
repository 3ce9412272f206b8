import WebSocket from 'ws';
import { messageText, type Frame } from './ws-client.js';
import { waitFor } from './wait.js';

export type RawEndpointName = 'analytics' | 'availability' | 'logs';

/** The logs `auth` data (epoch and since are added on a resume). */
export interface LogsAuth {
  userId: string;
  appId: string;
  token?: string;
  filters?: Record<string, unknown>;
}

export interface ResumeAnswer {
  recovered: boolean;
  epoch: string;
  count?: number;
  offset?: number;
  /** Which connection (0 = the first) it answered. */
  connection: number;
  /** A new epoch replayed from its offset 1 (asked with `acrossEpochs`). */
  epochChanged?: true;
}

/**
 * A raw-endpoint client that resumes the way the protocol says: it keeps the epoch and the last
 * offset it processed, and on every reconnect passes them (`?epoch=&since=`, or in the logs
 * `auth` data). It records every channel frame it gets with its offset, and counts duplicates
 * and gaps, so a test can assert "every frame exactly once, in order" across reconnects.
 */
export class ResumingClient {
  /** Channel frames (frames that carry an offset), in arrival order, across connections. */
  readonly received: Frame[] = [];
  /** Frames whose offset was at or below the position: seen before. */
  readonly duplicates: Frame[] = [];
  /** Holes: a frame that did not follow the position (filtered clients excepted). */
  readonly gaps: { after: number; got: number }[] = [];
  readonly resumes: ResumeAnswer[] = [];
  readonly firstFrames: Frame[] = [];
  /** Every frame of the current connection. */
  current: Frame[] = [];
  position: { epoch: string; offset: number } | undefined;
  connections = 0;
  closes: { code: number; reason: string }[] = [];
  readonly errors: string[] = [];
  private ws: WebSocket | undefined;
  private stopped = false;
  private urlIndex = 0;
  private nextDelayMs: number | undefined;
  /** Away (`away()`): no reconnect until `comeBack()`. */
  private held = false;

  private constructor(
    readonly endpoint: RawEndpointName,
    /** Base URLs (`ws://host:port`) tried in turn on each reconnect. */
    private readonly bases: string[],
    private readonly logsAuth: LogsAuth | undefined,
    private readonly reconnectDelayMs: number,
    /** Resume with `acrossEpochs`: a new epoch in full when its history is complete. */
    private readonly acrossEpochs: boolean,
  ) {}

  static async connect(
    endpoint: RawEndpointName,
    bases: string[],
    { logsAuth, reconnectDelayMs = 100, acrossEpochs = false }: { logsAuth?: LogsAuth; reconnectDelayMs?: number; acrossEpochs?: boolean } = {},
  ): Promise<ResumingClient> {
    const client = new ResumingClient(endpoint, bases, logsAuth, reconnectDelayMs, acrossEpochs);
    client.open();
    await client.waitConnected(1);
    return client;
  }

  /** The URL of the next connection, with the resume parameters once there is a position. */
  private url(base: string): string {
    const url = new URL(`/ws/${this.endpoint}`, base);
    if (this.position !== undefined && this.endpoint !== 'logs') {
      url.searchParams.set('epoch', this.position.epoch);
      url.searchParams.set('since', String(this.position.offset));
      if (this.acrossEpochs) url.searchParams.set('acrossEpochs', '1');
    }
    return url.toString();
  }

  private open(): void {
    if (this.stopped) return;
    const base = this.bases[this.urlIndex % this.bases.length] as string;
    const ws = new WebSocket(this.url(base));
    this.ws = ws;
    const connection = this.connections;
    let resuming = false;
    let firstSeen = false;
    ws.on('open', () => {
      if (this.endpoint === 'logs' && this.logsAuth !== undefined) {
        resuming = this.position !== undefined;
        const across = this.acrossEpochs ? { acrossEpochs: true } : {};
        const data = resuming ? { ...this.logsAuth, epoch: this.position!.epoch, since: this.position!.offset, ...across } : this.logsAuth;
        ws.send(JSON.stringify({ type: 'auth', data }));
      } else {
        resuming = this.position !== undefined;
      }
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(messageText(data)) as Frame;
      this.current.push(frame);
      if (!firstSeen && ['initial_stats', 'connection', 'auth_success'].includes(frame.type)) {
        firstSeen = true;
        this.connections += 1;
        this.firstFrames.push(frame);
        if (!resuming) this.position = { epoch: frame['epoch'] as string, offset: frame['offset'] as number };
        return;
      }
      if (frame.type === 'resumed') {
        const answer: ResumeAnswer = {
          recovered: frame['recovered'] as boolean,
          epoch: frame['epoch'] as string,
          connection,
          ...(typeof frame['count'] === 'number' ? { count: frame['count'] } : {}),
          ...(typeof frame['offset'] === 'number' ? { offset: frame['offset'] } : {}),
        };
        if (frame['epochChanged'] === true) answer.epochChanged = true;
        this.resumes.push(answer);
        if (!answer.recovered) this.position = { epoch: answer.epoch, offset: answer.offset as number };
        // A new epoch replayed in full: its frames count from offset 1.
        else if (answer.epochChanged === true) this.position = { epoch: answer.epoch, offset: 0 };
        return;
      }
      this.record(frame);
    });
    ws.on('close', (code, reason) => {
      this.closes.push({ code, reason: reason.toString() });
      this.current = [];
      if (this.stopped || this.held) return;
      this.urlIndex += 1;
      const delay = this.nextDelayMs ?? this.reconnectDelayMs;
      this.nextDelayMs = undefined;
      setTimeout(() => this.open(), delay);
    });
    // A refused or dropped connection ends in 'close' too; its error says why.
    ws.on('error', (err) => this.errors.push(err.message));
  }

  private record(frame: Frame): void {
    // `/ws/logs` also pushes cluster metrics, from a channel of their own: not the app's.
    if (this.endpoint === 'logs' && frame.type !== 'logs' && frame.type !== 'cleared') return;
    const offset = frame['offset'];
    if (typeof offset !== 'number' || this.position === undefined) return;
    const from = typeof frame['fromOffset'] === 'number' ? frame['fromOffset'] : offset;
    if (offset <= this.position.offset) {
      this.duplicates.push(frame);
      return;
    }
    if (from !== this.position.offset + 1) this.gaps.push({ after: this.position.offset, got: from });
    this.position.offset = offset;
    this.received.push(frame);
  }

  send(value: unknown): void {
    this.ws?.send(JSON.stringify(value));
  }

  /** Waits until `count` connections have received their first frame. */
  async waitConnected(count: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.connections >= count, { timeoutMs, what: `${this.endpoint} connection #${count}` });
  }

  /** Drops the connection (as a network would); the client reconnects after `awayMs` and resumes. */
  drop(awayMs?: number): void {
    this.nextDelayMs = awayMs;
    this.ws?.terminate();
  }

  /** The ids of the events received (logs: of every entry of every batch). */
  ids(): string[] {
    return this.received.flatMap((frame) =>
      frame.type === 'logs' ? (frame['payload'] as { id: string }[]).map((entry) => entry.id) : typeof frame['id'] === 'string' ? [frame['id']] : [],
    );
  }

  /** Drops the connection and stays away until `comeBack()`. */
  away(): void {
    this.held = true;
    this.ws?.terminate();
  }

  /** Reconnects after `away()`, resuming from the position it left with. */
  comeBack(): void {
    this.held = false;
    this.urlIndex += 1;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close();
  }
}
