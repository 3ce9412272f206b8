/**
 * Reconnecting clients for the churn and rolling-restart scenarios (run inside a load-generator
 * process). Each client remembers every benchmark message it received by its sequence number,
 * so the harness can count, per client, what was delivered, what arrived twice and what never
 * arrived. Clients either drop on purpose (churn: the socket is cut, the client stays away for
 * `downMs` and reconnects) or are dropped by the server (a gateway restart) and reconnect at
 * once; a reconnect goes to the next target in the client's list, as a load balancer would send
 * it to another gateway.
 *
 * Raw clients of a Switchboard endpoint resume: they keep the channel's `epoch` and the last
 * `offset` they processed and reconnect with `?epoch=E&since=N`. Socket.IO clients speak the
 * wire protocol (sio-wire.ts) and recover as the stock `socket.io-client` does: they keep the
 * session's private id and the offset of the last event, and reconnect with both; the stock
 * client's parsing and dispatch of every packet would make the loaders, not the servers, set
 * the replay figure.
 */
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import WebSocket from 'ws';
import { SioSession, connectSioWire, type SioWireSocket } from './sio-wire.js';
import { HISTOGRAM, preciseNow, type ChurnReport, type ChurnStart } from './protocol.js';

const SEQ_KEY = '"seq":';
const T_KEY = '"t":';
const OFFSET_KEY = '"offset":';

/** Growable set of small non-negative integers. */
class SeqSet {
  private bits = new Uint8Array(64);
  has(n: number): boolean {
    return n >> 3 < this.bits.length && (this.bits[n >> 3]! & (1 << (n & 7))) !== 0;
  }
  add(n: number): void {
    if (n >> 3 >= this.bits.length) {
      const next = new Uint8Array(Math.max(this.bits.length * 2, (n >> 3) + 1));
      next.set(this.bits);
      this.bits = next;
    }
    this.bits[n >> 3]! |= 1 << (n & 7);
  }
  /** How many members are also in `other` (a bitset in the same layout). */
  countIn(other: Uint8Array): number {
    let n = 0;
    const len = Math.min(this.bits.length, other.length);
    for (let i = 0; i < len; i++) {
      let v = this.bits[i]! & other[i]!;
      while (v !== 0) {
        v &= v - 1;
        n += 1;
      }
    }
    return n;
  }
}

const readNumber = (text: string, key: string, from: number): number | undefined => {
  const at = text.indexOf(key, from);
  if (at < 0) return undefined;
  const value = Number.parseFloat(text.slice(at + key.length, at + key.length + 24));
  return Number.isFinite(value) ? value : undefined;
};

class ChurnClient {
  private ws: WebSocket | undefined;
  private socket: SioWireSocket | undefined;
  /** The Socket.IO session to recover, kept across this client's connections. */
  private readonly session = new SioSession();
  private target = 0;
  readonly received = new SeqSet();
  receipts = 0;
  distinct = 0;
  open = false;
  /** Connected at least once (a client that never did is left out of the tallies). */
  connected = false;
  /** This client cut its own connection (a churn drop), so the close that follows is expected. */
  private dropping = false;
  /** Dialling again after a drop or a server close (its first frame says whether it resumed). */
  private reconnecting = false;
  /** Whether this client reconnects after a close it did not cause (a server restart). */
  private stopped = false;
  private dropTimer: NodeJS.Timeout | undefined;
  private epoch: string | undefined;
  private offset: number | undefined;
  /** When the connection was lost and when the client dialled again: messages sent in between were missed. */
  private droppedAt = 0;
  private reconnectAt = 0;
  /** When the last missed message arrived after the reconnect. */
  private lastReplayAt = 0;
  /** When the server closed this client (restart), until the new connection's first frame. */
  private lostAt = 0;

  constructor(
    private readonly owner: ChurnGroup,
    private readonly urls: string[],
  ) {}

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const url = this.urls[this.target % this.urls.length]!;
      if (this.owner.options.kind === 'ws') this.connectWs(url, resolve, reject);
      else this.connectSio(url, resolve, reject);
    });
  }

  private connectWs(base: string, resolve: () => void, reject: (err: Error) => void): void {
    const url = this.owner.options.resume && this.epoch !== undefined ? `${base}?epoch=${encodeURIComponent(this.epoch)}&since=${this.offset ?? 0}` : base;
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 30_000 });
    this.ws = ws;
    let opened = false;
    ws.on('message', (data: Buffer) => this.onFrame(data.toString()));
    ws.once('open', () => {
      opened = true;
      this.open = true;
      this.connected = true;
      resolve();
    });
    ws.once('error', (err) => {
      if (!opened) reject(err);
    });
    ws.once('close', () => {
      if (this.ws !== ws) return;
      this.open = false;
      if (opened) this.onServerClose();
    });
  }

  private connectSio(url: string, resolve: () => void, reject: (err: Error) => void): void {
    let socket: SioWireSocket | undefined;
    // Only a connect that asks for a session (one processed event at least) can be refused one;
    // a client that had nothing to recover is not a `recovered:false` (raw clients alike: they
    // resume only with an epoch).
    const asked = this.session.pid !== undefined && this.session.offset !== undefined;
    connectSioWire(
      url,
      {
        onEvent: (name, packet) => {
          if (name !== 'error:new') return;
          const text = packet.toString('utf8');
          const seq = readNumber(text, SEQ_KEY, 0);
          const t = readNumber(text, T_KEY, 0);
          if (seq !== undefined && t !== undefined) this.onMessage(seq, t);
        },
        onClose: () => {
          // A connect that failed is the redial's to handle; only an open connection's close counts.
          if (socket === undefined || this.socket !== socket) return;
          this.socket = undefined;
          this.open = false;
          if (this.dropping) this.dropping = false;
          else if (!this.stopped) this.onServerClose();
        },
      },
      30_000,
      this.session,
    ).then(
      (connected) => {
        socket = connected;
        this.socket = connected;
        this.open = true;
        this.connected = true;
        if (this.reconnecting && asked) this.owner.countResume(connected.recovered);
        this.firstFrame();
        resolve();
      },
      (err: Error) => reject(err),
    );
  }

  private onFrame(text: string): void {
    const seqAt = text.indexOf(SEQ_KEY);
    if (seqAt >= 0) {
      const seq = readNumber(text, SEQ_KEY, seqAt);
      const t = readNumber(text, T_KEY, 0);
      const offset = readNumber(text, OFFSET_KEY, seqAt);
      if (offset !== undefined) this.offset = offset;
      if (seq !== undefined && t !== undefined) this.onMessage(seq, t);
      return;
    }
    // Control frames (first frame, `resumed`, heartbeats): rare, parsed whole.
    let frame: { type?: unknown; epoch?: unknown; offset?: unknown; recovered?: unknown };
    try {
      frame = JSON.parse(text) as typeof frame;
    } catch {
      return;
    }
    if (typeof frame.epoch === 'string') this.epoch = frame.epoch;
    if (frame.type === 'resumed') {
      this.owner.countResume(frame.recovered === true);
      // Not recovered: the client starts again from the channel's current position.
      if (frame.recovered !== true && typeof frame.offset === 'number') this.offset = frame.offset;
      return;
    }
    if (typeof frame.offset === 'number') this.offset = frame.offset;
    if (frame.type === 'initial_stats' || frame.type === 'connection' || frame.type === 'auth_success') this.firstFrame();
  }

  private firstFrame(): void {
    this.reconnecting = false;
    if (this.lostAt > 0) {
      this.owner.reconnectLatency.recordValue(Math.max(1, Math.round((preciseNow() - this.lostAt) * 1000)));
      this.lostAt = 0;
    }
  }

  private onMessage(seq: number, sentAt: number): void {
    if (sentAt < this.owner.since) return;
    this.receipts += 1;
    if (this.received.has(seq)) return;
    this.received.add(seq);
    this.distinct += 1;
    // Sent while this client was away, arriving after it came back: missed, then replayed.
    if (this.reconnectAt > 0 && sentAt >= this.droppedAt && sentAt < this.reconnectAt) {
      this.lastReplayAt = preciseNow();
      this.owner.replayed += 1;
    }
  }

  /** The time from dialling again to the last missed message, for the reconnect that just ended. */
  finishReplay(): void {
    if (this.lastReplayAt > 0) this.owner.replayLatency.recordValue(Math.max(1, Math.round((this.lastReplayAt - this.reconnectAt) * 1000)));
    this.lastReplayAt = 0;
    this.reconnectAt = 0;
    this.droppedAt = 0;
  }

  /** Schedules the next drop, `everyMs` ± 30 % from now (the first one at a random phase). */
  scheduleDrop(first: boolean): void {
    const { everyMs } = this.owner.options;
    if (everyMs <= 0) return;
    const delay = first ? Math.random() * everyMs : everyMs * (0.7 + Math.random() * 0.6);
    this.dropTimer = setTimeout(() => this.drop(), delay);
  }

  /** Cuts the connection as a network would, stays away `downMs`, then reconnects elsewhere. */
  private drop(): void {
    if (this.stopped || !this.open) return this.scheduleDrop(false);
    this.finishReplay();
    this.owner.drops += 1;
    this.open = false;
    this.droppedAt = preciseNow();
    if (this.ws !== undefined) {
      const ws = this.ws;
      this.ws = undefined;
      ws.terminate();
    } else if (this.socket !== undefined) {
      this.dropping = true;
      this.socket.terminate();
    }
    setTimeout(() => void this.redial(), this.owner.options.downMs);
  }

  /** The server closed the connection: come back at once (a little jitter, as SDKs do). */
  private onServerClose(): void {
    if (this.stopped) return;
    this.finishReplay();
    this.owner.serverCloses += 1;
    this.lostAt = preciseNow();
    this.droppedAt = this.lostAt;
    setTimeout(() => void this.redial(), Math.random() * 100);
  }

  private async redial(): Promise<void> {
    this.reconnecting = true;
    this.reconnectAt = preciseNow();
    for (let attempt = 0; !this.stopped; attempt++) {
      this.target += 1;
      try {
        await this.connect();
        this.owner.reconnects += 1;
        if (!this.stopped) this.scheduleDrop(false);
        return;
      } catch (err) {
        this.owner.failedAttempt(err);
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** attempt)));
      }
    }
  }

  /** No more drops; a reconnect under way still completes. */
  quiet(): void {
    clearTimeout(this.dropTimer);
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.dropTimer);
    this.open = false;
    this.ws?.terminate();
    this.socket?.disconnect();
  }
}

/** The churn clients of one load generator. */
export class ChurnGroup {
  readonly clients: ChurnClient[] = [];
  replayLatency: Histogram = build(HISTOGRAM);
  reconnectLatency: Histogram = build(HISTOGRAM);
  drops = 0;
  reconnects = 0;
  serverCloses = 0;
  recovered = 0;
  notRecovered = 0;
  /** Messages that arrived after a reconnect although sent while the client was away. */
  replayed = 0;
  /** Messages sent before this are ignored; nothing counts until `start`. */
  since = Number.POSITIVE_INFINITY;

  constructor(public options: ChurnStart) {}

  /** Reconnect attempts that failed (the client tried again), and the first few reasons. */
  failedAttempts = 0;
  readonly attemptErrors: string[] = [];

  failedAttempt(err: unknown): void {
    this.failedAttempts += 1;
    const text = err instanceof Error ? err.message : String(err);
    if (this.attemptErrors.length < 3 && !this.attemptErrors.includes(text)) this.attemptErrors.push(text);
  }

  countResume(recovered: boolean): void {
    if (recovered) this.recovered += 1;
    else this.notRecovered += 1;
  }

  async connect(): Promise<{ ok: number; failed: number; errors: string[] }> {
    const { urls, count, concurrency } = this.options;
    let ok = 0;
    const errors: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        // Each client starts on its own target and moves on from there.
        const client = new ChurnClient(this, urls.map((_, j) => urls[(i + j) % urls.length]!));
        this.clients.push(client);
        try {
          await client.connect();
          ok += 1;
        } catch (err) {
          client.close();
          if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
    return { ok, failed: count - ok, errors };
  }

  /** Counting starts now (for messages sent from `since`); drops begin when `everyMs` > 0. */
  start(since: number): void {
    this.since = since;
    for (const c of this.clients) c.scheduleDrop(true);
  }

  quiet(): void {
    this.options = { ...this.options, everyMs: 0 };
    for (const c of this.clients) c.quiet();
  }

  status(): { open: number; receipts: number } {
    let open = 0;
    let receipts = 0;
    for (const c of this.clients) {
      if (c.open) open += 1;
      receipts += c.receipts;
    }
    return { open, receipts };
  }

  /** Per-client tallies against the messages the system accepted (`accepted`: a bitset by seq). */
  report(accepted: Uint8Array): ChurnReport {
    let expected = 0;
    for (const byte of accepted) for (let v = byte; v !== 0; v &= v - 1) expected += 1;
    let delivered = 0;
    let receipts = 0;
    let distinct = 0;
    let complete = 0;
    let open = 0;
    let worstMissing = 0;
    let connected = 0;
    for (const c of this.clients) {
      if (!c.connected) continue;
      connected += 1;
      c.finishReplay();
      const got = c.received.countIn(accepted);
      delivered += got;
      receipts += c.receipts;
      distinct += c.distinct;
      if (got === expected) complete += 1;
      if (c.open) open += 1;
      worstMissing = Math.max(worstMissing, expected - got);
    }
    return {
      clients: connected,
      open,
      expected_per_client: expected,
      delivered,
      duplicates: receipts - distinct,
      complete_clients: complete,
      worst_missing: worstMissing,
      drops: this.drops,
      reconnects: this.reconnects,
      server_closes: this.serverCloses,
      recovered: this.recovered,
      not_recovered: this.notRecovered,
      replayed: this.replayed,
      failed_attempts: this.failedAttempts,
      attempt_errors: this.attemptErrors,
      replay: encodeIntoCompressedBase64(this.replayLatency),
      reconnect: encodeIntoCompressedBase64(this.reconnectLatency),
    };
  }

  close(): void {
    for (const c of this.clients) c.close();
    this.clients.length = 0;
  }
}
