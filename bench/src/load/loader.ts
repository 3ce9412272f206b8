/**
 * A load-generator child process: holds up to ~15k WebSocket (`ws`) or Socket.IO (the wire-level
 * client of sio-wire.ts) clients, counts the benchmark messages each one receives, records
 * publish → delivery latency from the `"t":` (high-resolution send time) every message carries,
 * and reports progress to the harness over IPC.
 */
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import WebSocket from 'ws';
import { ChurnGroup } from './churn.js';
import { connectSioWire } from './sio-wire.js';
import { HISTOGRAM, preciseNow, type FromLoader, type MeasureMode, type ToLoader } from './protocol.js';

interface Client {
  close(): void;
  emitWithAck?(event: string, arg: string): Promise<unknown>;
  open: boolean;
}

const send = (message: FromLoader) => process.send?.(message);
const T_KEY = Buffer.from('"t":');
const SAMPLE_MASK = 15;

const clients: Client[] = [];
let counts = new Uint32Array(1024);
let roomCounts = 0;
let mode: MeasureMode = 'count';
let countedEvent = 'error:new';
let roomEvent: string | undefined;
let histogram: Histogram = build(HISTOGRAM);
let closedDuringRun = 0;
let tracking = false;
/** Messages sent before this (an earlier run's backlog) do not count. */
let since = 0;
let churn: ChurnGroup | undefined;

const record = (sentAt: number) => {
  const micros = Math.round((preciseNow() - sentAt) * 1000);
  histogram.recordValue(Math.max(1, micros));
};

/** Raw frames: only those carrying `"t":` are benchmark messages (not heartbeats or stats). */
const onFrame = (index: number, data: Buffer) => {
  const at = data.indexOf(T_KEY);
  if (at < 0) return;
  const sentAt = Number.parseFloat(data.toString('latin1', at + 4, at + 24));
  if (sentAt < since) return;
  const n = ++counts[index]!;
  if (mode === 'latency' || (n & SAMPLE_MASK) === 0) record(sentAt);
};

/** The benchmark's send time in a Socket.IO event packet (`"metadata":{"t":…}`), if any. */
const sentAtIn = (packet: Buffer): number | undefined => {
  const at = packet.indexOf(T_KEY);
  if (at < 0) return undefined;
  const sentAt = Number.parseFloat(packet.toString('latin1', at + 4, at + 24));
  return Number.isFinite(sentAt) ? sentAt : undefined;
};

const onEvent = (index: number, packet: Buffer) => {
  const sentAt = sentAtIn(packet);
  if (sentAt === undefined || sentAt < since) return;
  const n = ++counts[index]!;
  // In rooms runs only the room event's latency is recorded.
  if (roomEvent === undefined && (mode === 'latency' || (n & SAMPLE_MASK) === 0)) record(sentAt);
};

const onRoomEvent = (packet: Buffer) => {
  const sentAt = sentAtIn(packet);
  if (sentAt === undefined || sentAt < since) return;
  roomCounts += 1;
  if (mode === 'latency' || (roomCounts & SAMPLE_MASK) === 0) record(sentAt);
};

function grow(size: number) {
  if (size <= counts.length) return;
  const next = new Uint32Array(Math.max(size, counts.length * 2));
  next.set(counts);
  counts = next;
}

function connectWs(url: string, index: number, deflate: boolean): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: deflate, skipUTF8Validation: true, handshakeTimeout: 30_000 });
    const client: Client = { open: false, close: () => ws.terminate() };
    ws.on('message', (data: Buffer) => onFrame(index, data));
    ws.once('open', () => {
      client.open = true;
      resolve(client);
    });
    ws.once('error', (err) => {
      if (!client.open) reject(err);
    });
    ws.once('close', () => {
      if (client.open && tracking) closedDuringRun += 1;
      client.open = false;
    });
  });
}

async function connectSio(url: string, index: number): Promise<Client> {
  const client: Client = { open: false, close: () => undefined };
  const socket = await connectSioWire(
    url,
    {
      onEvent: (event, packet) => {
        if (event === countedEvent) onEvent(index, packet);
        else if (event === roomEvent) onRoomEvent(packet);
      },
      onClose: () => {
        if (client.open && tracking) closedDuringRun += 1;
        client.open = false;
      },
    },
    30_000,
  );
  client.open = true;
  client.close = () => socket.disconnect();
  client.emitWithAck = (event, arg) => socket.emitWithAck(event, arg, 30_000);
  return client;
}

/** Runs `task(i)` for i in [0, total) with at most `concurrency` in flight. */
async function pooled(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

function progress() {
  let sum = 0;
  let min = Number.MAX_SAFE_INTEGER;
  let open = 0;
  for (let i = 0; i < clients.length; i++) {
    const c = counts[i]!;
    sum += c;
    if (clients[i]!.open) {
      open += 1;
      if (c < min) min = c;
    }
  }
  return { sum, min: open === 0 ? 0 : min, room: roomCounts, open };
}

let lastSum = -1;
let lastRoom = -1;
/** Progress goes to the harness every few ms when it changed: every 2 ms for a few hundred clients, 10 ms for 10k (the scan is O(clients)). */
function reportProgress() {
  if (tracking) {
    const p = progress();
    if (p.sum !== lastSum || p.room !== lastRoom) {
      lastSum = p.sum;
      lastRoom = p.room;
      send({ op: 'progress', ...p });
    }
  }
  setTimeout(reportProgress, Math.min(10, Math.max(2, Math.ceil(clients.length / 1000))));
}
reportProgress();

process.on('message', (message: ToLoader) => {
  void handle(message);
});

async function handle(message: ToLoader): Promise<void> {
  switch (message.op) {
    case 'connect': {
      const start = performance.now();
      const base = clients.length;
      grow(base + message.count);
      let ok = 0;
      const errors: string[] = [];
      await pooled(message.count, message.concurrency, async (i) => {
        const index = base + i;
        const url = message.urls[index % message.urls.length]!;
        try {
          clients[index] = await (message.kind === 'ws' ? connectWs(url, index, message.deflate) : connectSio(url, index));
          ok += 1;
        } catch (err) {
          clients[index] = { open: false, close: () => undefined };
          if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
        }
      });
      return void send({ op: 'connected', ok, failed: message.count - ok, ms: performance.now() - start, errors });
    }
    case 'close': {
      const gone = clients.splice(Math.max(0, clients.length - message.count));
      for (const c of gone) {
        c.open = false;
        c.close();
      }
      counts.fill(0, clients.length);
      return void send({ op: 'closed', open: progress().open });
    }
    case 'join': {
      const start = performance.now();
      const acks = build(HISTOGRAM);
      let ok = 0;
      await pooled(clients.length, message.concurrency, async (i) => {
        const client = clients[i]!;
        if (!client.open || client.emitWithAck === undefined) return;
        const t0 = performance.now();
        const answer = (await client.emitWithAck(message.event, `${message.prefix}${i % message.rooms}`).catch(() => undefined)) as
          | { ok?: boolean }
          | undefined;
        if (answer?.ok === true) {
          ok += 1;
          acks.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        }
      });
      const histogramText = encodeIntoCompressedBase64(acks);
      return void send({ op: 'joined', ok, failed: clients.length - ok, ms: performance.now() - start, histogram: histogramText });
    }
    case 'track':
      counts.fill(0);
      roomCounts = 0;
      mode = message.mode;
      countedEvent = message.event;
      roomEvent = message.roomEvent;
      since = message.since;
      histogram = build(HISTOGRAM);
      closedDuringRun = 0;
      lastSum = -1;
      tracking = true;
      return void send({ op: 'tracking', open: progress().open });
    case 'collect':
      tracking = false;
      return void send({ op: 'collected', ...progress(), histogram: encodeIntoCompressedBase64(histogram), closedDuringRun });
    case 'churn-connect': {
      const { op: _op, ...options } = message;
      churn?.close();
      churn = new ChurnGroup(options);
      return void send({ op: 'churn-connected', ...(await churn.connect()) });
    }
    case 'churn-start':
      churn?.start(message.since);
      return void send({ op: 'churn-started' });
    case 'churn-quiet':
      churn?.quiet();
      return void send({ op: 'churn-quieted' });
    case 'churn-status':
      return void send({ op: 'churn-status', ...(churn?.status() ?? { open: 0, receipts: 0 }) });
    case 'churn-report': {
      const accepted = new Uint8Array(Buffer.from(message.accepted, 'base64'));
      if (churn === undefined) throw new Error('churn-report before churn-connect');
      return void send({ op: 'churn-reported', ...churn.report(accepted) });
    }
    case 'churn-close':
      churn?.close();
      churn = undefined;
      return void send({ op: 'churn-closed' });
    case 'exit':
      churn?.close();
      for (const c of clients) c.close();
      setTimeout(() => process.exit(0), 200);
      return;
  }
}

send({ op: 'ready' });
