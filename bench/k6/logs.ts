/**
 * k6: `/ws/logs` (docs/protocol-logs.md) — written to the contract. Each subscriber authenticates for one
 * of APPS applications (first message `auth`), asks for history, applies a level filter, and
 * checks that live `logs` batches carry only its own app's entries; a producer posts log lines
 * (`POST /logs`) spread over the apps, each with its send time in `metadata.sent_at`.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8081 -e VUS=500 -e RATE=100 -e APPS=10 bench/k6/logs.ts
 *   (TOKEN=<jwt granting the appId> when anonymous access is off)
 */
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { HOLD_S, failOnError, messageDelay, parse, producerOf, scriptOptions, text, wsUrl } from './lib/common.ts';

interface LogEntry {
  id: string;
  timestamp: number;
  level: string;
  message: string;
  appId: string;
  userId: string;
  metadata?: { sent_at?: number };
}

type ServerMessage =
  | { type: 'auth_success'; payload: { appId: string; userId: string } }
  | { type: 'auth_error'; payload: { message: string } }
  | { type: 'logs'; payload: LogEntry[] }
  | { type: 'metrics'; payload: Record<string, unknown> }
  | { type: 'cleared'; payload: { appId: string } };

const APPS = Number(__ENV['APPS'] ?? 10);
const TOKEN = __ENV['TOKEN'];
const LEVELS = ['info', 'warn', 'error'];
const received = new Counter('log_entries_received');
const foreign = new Counter('log_entries_foreign_app');

export const options = scriptOptions({
  log_entries_received: ['count>0'],
  log_entries_foreign_app: ['count==0'],
});

export function subscriber(): void {
  const appId = `k6-app-${__VU % APPS}`;
  const userId = `k6-user-${__VU}`;
  const ws = new WebSocket(wsUrl(__VU, '/ws/logs'));
  let authed = false;
  let historyAnswered = false;
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: 'auth', data: TOKEN === undefined ? { userId, appId } : { userId, appId, token: TOKEN } }));
    setTimeout(() => ws.close(), HOLD_S * 1000);
  };
  ws.onmessage = (event) => {
    const message = parse<ServerMessage>(text(event?.data));
    if (!authed) {
      authed = check(message, { 'auth answered auth_success for our app': (m) => m?.type === 'auth_success' && m.payload.appId === appId });
      if (!authed) return ws.close();
      // History first (answered with a `logs` message), then live logs of warn and error only.
      ws.send(JSON.stringify({ type: 'request_history' }));
      ws.send(JSON.stringify({ type: 'filter', filters: { level: ['warn', 'error'] } }));
      return;
    }
    if (message?.type !== 'logs') return;
    if (!historyAnswered) {
      historyAnswered = true;
      check(message, { 'history is a list': (m) => Array.isArray(m.payload) });
      return;
    }
    const now = Date.now();
    for (const entry of message.payload) {
      received.add(1);
      if (entry.appId !== appId) foreign.add(1);
      check(entry, { 'live entry passes the level filter': (e) => e.level === 'warn' || e.level === 'error' });
      const sentAt = entry.metadata?.sent_at;
      if (typeof sentAt === 'number') messageDelay.add(now - sentAt);
    }
  };
  failOnError(ws);
}

export const producer = producerOf('/logs', (n) => ({
  appId: `k6-app-${n % APPS}`,
  level: LEVELS[n % LEVELS.length],
  message: `k6 log line ${n}`,
  userId: 'k6-producer',
  metadata: { sent_at: Date.now() },
}));
