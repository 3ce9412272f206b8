/**
 * k6: `/ws/analytics` (docs/protocol-analytics.md). Subscribers ramp up and hold a connection each; a producer
 * posts analytics events at RATE/s carrying their send time; every delivery is checked and its
 * publish → delivery delay recorded in `message_delay_ms`.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8081,http://127.0.0.1:8082 -e VUS=2000 -e RATE=50 bench/k6/analytics.ts
 */
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { setInterval, clearInterval, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { HOLD_S, failOnError, messageDelay, parse, producerOf, scriptOptions, text, wsUrl } from './lib/common.ts';

interface Frame {
  type: string;
  data?: { sent_at?: number; current_visitors?: number } & Record<string, unknown>;
  offset?: number;
}

const events = new Counter('analytics_events_received');
const gaps = new Counter('analytics_offset_gaps');

export const options = scriptOptions({
  analytics_events_received: ['count>0'],
  analytics_offset_gaps: ['count==0'],
});

export function subscriber(): void {
  const ws = new WebSocket(wsUrl(__VU, '/ws/analytics'));
  let first = true;
  let lastOffset: number | undefined;
  ws.onopen = () => {
    // Keep-alive at the application level too (`ping` → `pong`).
    const keepAlive = setInterval(() => ws.send(JSON.stringify({ type: 'ping' })), 10_000);
    setTimeout(() => {
      clearInterval(keepAlive);
      ws.close();
    }, HOLD_S * 1000);
  };
  ws.onmessage = (event) => {
    const frame = parse<Frame>(text(event?.data));
    if (first) {
      first = false;
      check(frame, { 'first frame is initial_stats': (f) => f?.type === 'initial_stats' && typeof f.data?.current_visitors === 'number' });
      return;
    }
    if (frame === undefined) return void check(frame, { 'frame is JSON': () => false });
    // Every frame published on the channel (events and heartbeats) carries the next offset.
    if (typeof frame.offset === 'number') {
      if (lastOffset !== undefined && frame.offset !== lastOffset + 1) gaps.add(1);
      lastOffset = frame.offset;
    }
    if (frame.type === 'heartbeat' || frame.type === 'pong' || frame.type === 'initial_stats') return;
    events.add(1);
    const sentAt = frame.data?.sent_at;
    check(frame, { 'event carries its send time': () => typeof sentAt === 'number' });
    if (typeof sentAt === 'number') messageDelay.add(Date.now() - sentAt);
  };
  failOnError(ws);
}

export const producer = producerOf('/events', () => ({ type: 'page_view', visitor_id: `k6-${__VU}`, data: { sent_at: Date.now(), path: '/k6' } }));
