/** Settings shared by the k6 scripts: targets and load shape come from the environment. */
import { check } from 'k6';
import http from 'k6/http';
import { Trend } from 'k6/metrics';
import type { Options, Stage } from 'k6/options';
import type { WebSocket } from 'k6/websockets';

/** Gateway base URL (several comma-separated: virtual users spread over them). */
export const BASE_URLS = (__ENV['BASE_URL'] ?? 'http://127.0.0.1:8080').split(',').map((u) => u.trim().replace(/\/$/, ''));
export const baseUrl = (vu: number): string => BASE_URLS[vu % BASE_URLS.length] ?? 'http://127.0.0.1:8080';
export const wsUrl = (vu: number, path: string): string => `${baseUrl(vu).replace(/^http/, 'ws')}${path}`;

/** Peak subscribers, how long to hold them, publish rate (messages/s). */
export const VUS = Number(__ENV['VUS'] ?? 100);
export const HOLD_S = Number(__ENV['HOLD_S'] ?? 30);
export const RATE = Number(__ENV['RATE'] ?? 20);
export const P99_MS = Number(__ENV['P99_MS'] ?? 20);
/** Optional producer credential (INGEST_API_KEYS). */
const INGEST_KEY = __ENV['INGEST_KEY'];

/** Publish → delivery delay of every message a subscriber receives (ms). */
export const messageDelay = new Trend('message_delay_ms', true);

/** Subscribers ramp up, hold, ramp down; the producer publishes at RATE while they hold. */
function rampingSubscribers(extra: { setupS?: number } = {}): Options['scenarios'] {
  const rampS = Math.max(5, Math.round(VUS / 200));
  const stages: Stage[] = [
    { duration: `${rampS}s`, target: VUS },
    { duration: `${HOLD_S}s`, target: VUS },
    { duration: '5s', target: 0 },
  ];
  return {
    subscribers: { executor: 'ramping-vus', exec: 'subscriber', startVUs: 0, stages, gracefulRampDown: '5s', gracefulStop: '10s' },
    producer: {
      executor: 'constant-arrival-rate',
      exec: 'producer',
      rate: RATE,
      timeUnit: '1s',
      duration: `${HOLD_S}s`,
      startTime: `${rampS + (extra.setupS ?? 2)}s`,
      preAllocatedVUs: Math.max(2, Math.ceil(RATE / 50)),
      maxVUs: Math.max(10, Math.ceil(RATE / 10)),
    },
  };
}

/**
 * A script's options: ramping subscribers with a steady producer, and the thresholds every
 * script shares (checks pass, deliveries are quick, ingest answers 202) plus its own.
 */
export function scriptOptions(thresholds: NonNullable<Options['thresholds']>): Options {
  return {
    scenarios: rampingSubscribers(),
    thresholds: {
      checks: ['rate>0.99'],
      message_delay_ms: [`p(99)<${P99_MS}`],
      'http_req_failed{scenario:producer}': ['rate<0.01'],
      'http_req_duration{scenario:producer}': ['p(99)<200'],
      ...thresholds,
    },
  };
}

/** A WebSocket error fails a check (and so the `checks` threshold). */
export function failOnError(ws: WebSocket): void {
  ws.onerror = (event) => {
    check(event, { 'no WebSocket error': () => false });
  };
}

/** The producer scenario's function: POSTs `body(n)` for the n-th message, expects 202. */
export function producerOf(path: string, body: (n: number) => unknown): () => void {
  let produced = 0;
  return () => {
    produced += 1;
    const res = ingest(path, body(produced));
    check(res, { [`POST ${path} → 202`]: (r) => r.status === 202 });
  };
}

/** POSTs a JSON body to an ingest route of the gateway this VU belongs to. */
export function ingest(path: string, body: unknown): ReturnType<typeof http.post> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (INGEST_KEY !== undefined) headers['authorization'] = `Bearer ${INGEST_KEY}`;
  return http.post(`${baseUrl(__VU)}${path}`, JSON.stringify(body), { headers, tags: { route: path.replace(/\/jobs\/[^/]+/, '/jobs/:jobId') } });
}

/** Text of a k6 message event (the endpoints send text frames). */
export const text = (data: unknown): string => (typeof data === 'string' ? data : '');

export function parse<T>(raw: string): T | undefined {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}
