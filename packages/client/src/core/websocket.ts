import { parseRetryAfter } from './backoff.js';

/**
 * The part of the WebSocket API the SDK uses. Browsers' global `WebSocket` and the `ws`
 * package's class both fit. Handler parameters are `never` so that either implementation's own
 * event types are accepted.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export const WS_OPEN = 1;

/** The implementation to use: the one passed in, else the global one (browsers, Node 22+). */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  const found = given ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (found === undefined) {
    throw new TypeError('no WebSocket implementation: pass one, e.g. `import WebSocket from "ws"` then `{ WebSocket }` (Node 20 has no global WebSocket)');
  }
  return found;
}

/**
 * The endpoint's ws(s):// URL from a base such as `https://rt.example.com` or
 * `ws://localhost:8080`; a URL that already has a path is used as given.
 */
export function endpointUrl(base: string, path: string, query: Record<string, string | undefined> = {}): string {
  const url = new URL(base);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '/' || url.pathname === '') url.pathname = path;
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== '') url.searchParams.set(key, value);
  return url.toString();
}

/** What an implementation that exposes the upgrade's HTTP answer (the `ws` package) tells of a refusal. */
export interface UpgradeRefusal {
  status: number;
  retryAfterS: number | undefined;
}

interface NodeWebSocket {
  once(event: 'unexpected-response', listener: (req: unknown, res: { statusCode?: number; headers: Record<string, string | string[] | undefined> }) => void): void;
  close(): void;
}

/**
 * Calls `onRefusal` with the status and `Retry-After` when the server answers the upgrade with an
 * HTTP status instead of switching protocols, then abandons the attempt (the socket closes with
 * 1006 as usual). Only the `ws` package shows that answer; browsers hide it, and their clients
 * fall back to the normal backoff.
 */
export function onUpgradeRefused(ws: WebSocketLike, onRefusal: (refusal: UpgradeRefusal) => void): void {
  const node = ws as unknown as Partial<NodeWebSocket>;
  if (typeof node.once !== 'function') return;
  (node as NodeWebSocket).once('unexpected-response', (_req, res) => {
    const header = res.headers['retry-after'];
    onRefusal({ status: res.statusCode ?? 0, retryAfterS: parseRetryAfter(Array.isArray(header) ? header[0] : header) });
    ws.close();
  });
}

/**
 * Whether a pre-open error says the server refused the credentials: the `ws` package reports
 * `Unexpected server response: 401`. Browsers hide the status (they report a bare 1006).
 */
export function isAuthRefusal(event: unknown): boolean {
  const message = (event as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /Unexpected server response: (401|403)\b/.test(message);
}
