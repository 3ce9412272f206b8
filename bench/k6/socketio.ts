/**
 * k6: the Socket.IO error monitor (docs/protocol-socketio.md) over k6's plain WebSocket, speaking engine.io v4
 * framing by hand: `0{...}` open → we send `40` (connect, optional auth) → `40{"sid"}`; the
 * server's `2` ping is answered `3`; events are `42[name, payload]`; our `subscribe:service`
 * carries ack id 1 (`421[...]`) and is answered `431[{"ok":true}]`. Each subscriber joins room
 * `service:<name>`; a producer posts error reports (`POST /report`) spread over the services;
 * every `error:service` must name the subscriber's service.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8081,http://127.0.0.1:8082 -e VUS=1000 -e RATE=20 bench/k6/socketio.ts
 */
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { HOLD_S, failOnError, messageDelay, parse, producerOf, scriptOptions, text, wsUrl } from './lib/common.ts';

interface ErrorRecord {
  id: string;
  service: string;
  level: string;
  metadata: { sent_at?: number } | null;
}

const SERVICES = Number(__ENV['SERVICES'] ?? 4);
const TOKEN = __ENV['TOKEN'];
const ACK_ID = 1;
const ackDelay = new Trend('socketio_ack_ms', true);
const roomEvents = new Counter('socketio_room_events');
const foreignRoom = new Counter('socketio_room_events_foreign');

export const options = scriptOptions({
  socketio_ack_ms: ['p(99)<500'],
  socketio_room_events: ['count>0'],
  socketio_room_events_foreign: ['count==0'],
});

/** `42["name",payload]` → [name, payload]; `43<id>[answer]` → ['ack:<id>', answer]. */
export function decodePacket(packet: string): [string, unknown] | undefined {
  const ack = /^43(\d+)(\[.*)$/s.exec(packet);
  if (ack) return [`ack:${ack[1]}`, parse<unknown[]>(ack[2] ?? '')?.[0]];
  if (!packet.startsWith('42')) return undefined;
  const args = parse<unknown[]>(packet.replace(/^42\d*/, ''));
  return args === undefined || typeof args[0] !== 'string' ? undefined : [args[0], args[1]];
}

export function subscriber(): void {
  const service = `svc-${__VU % SERVICES}`;
  const ws = new WebSocket(`${wsUrl(__VU, '/socket.io/')}?EIO=4&transport=websocket`);
  let subscribedAt = 0;
  ws.onopen = () => setTimeout(() => ws.close(), HOLD_S * 1000);
  ws.onmessage = (event) => {
    const packet = text(event?.data);
    if (packet === '2') return ws.send('3'); // engine.io ping → pong
    if (packet.startsWith('0{')) {
      // engine.io open: connect to the default namespace (with a token when given).
      return ws.send(TOKEN === undefined ? '40' : `40${JSON.stringify({ token: TOKEN })}`);
    }
    if (packet.startsWith('40')) {
      check(packet, { 'Socket.IO connect accepted': (p) => p.includes('"sid"') });
      subscribedAt = Date.now();
      return ws.send(`42${ACK_ID}${JSON.stringify(['subscribe:service', service])}`);
    }
    if (packet.startsWith('44')) return void check(packet, { 'no connect_error': () => false });
    const decoded = decodePacket(packet);
    if (decoded === undefined) return;
    const [name, payload] = decoded;
    if (name === `ack:${ACK_ID}`) {
      ackDelay.add(Date.now() - subscribedAt);
      check(payload, { 'subscribe:service acknowledged {ok:true}': (p) => (p as { ok?: boolean } | undefined)?.ok === true });
      return;
    }
    if (name !== 'error:service' && name !== 'error:new') return;
    const record = payload as ErrorRecord;
    const sentAt = record.metadata?.sent_at;
    if (name === 'error:service') {
      roomEvents.add(1);
      if (record.service !== service) foreignRoom.add(1);
      if (typeof sentAt === 'number') messageDelay.add(Date.now() - sentAt);
    }
  };
  failOnError(ws);
}

export const producer = producerOf('/report', (n) => ({
  service: `svc-${n % SERVICES}`,
  error: { message: `k6 error ${n}` },
  level: 'error',
  metadata: { sent_at: Date.now() },
}));
