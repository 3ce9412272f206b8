import type { RecognizedString, WebSocket } from 'uWebSockets.js';
import { errorFrame, parseJson } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { SocketRateLimiter } from '../rate-limit.js';
import type { SocketData } from './connections.js';
/** Close code for policy violations (RFC 6455). */
export const CLOSE_POLICY_VIOLATION = 1008;
/** Close code for a message too big to process (RFC 6455). */
export const CLOSE_MESSAGE_TOO_BIG = 1009;

/**
 * uWS hard-closes (no close frame, the client sees 1006) on frames over its own
 * maxPayloadLength. It is set this many times above the configured limit so that oversize
 * frames up to there get a proper 1009 close from us; beyond it uWS drops the connection.
 */
export const HARD_PAYLOAD_FACTOR = 16;
export const uwsMaxPayload = (limit: number): number => Math.min(limit * HARD_PAYLOAD_FACTOR, 64 * 1024 * 1024);

/** Sends a text frame (a string, or its UTF-8 bytes) unless the socket has closed meanwhile (safe after an await). */
export function sendFrame(ws: WebSocket<SocketData>, frame: RecognizedString, ctx: GatewayContext): void {
  const data = ws.getUserData();
  if (data.closed) return;
  ws.cork(() => ws.send(frame, false, true));
  ctx.metrics.sent.inc({ endpoint: data.endpoint });
}

/** How an endpoint words an error to one client (`/ws/logs` answers `auth_error` before auth). */
export type ErrorFramer = (ws: WebSocket<SocketData>, message: string) => string;

/**
 * First stage for every client frame on a raw endpoint: counting, per-connection rate limit,
 * text-only, JSON. Answers problems with `{"type":"error","message":...}` (or the endpoint's own
 * `errorFrameFor`) and keeps the connection; returns the parsed JSON, or undefined when the
 * frame was answered already. Synchronous: nothing on this path waits.
 */
export function createInboundDecoder(ctx: GatewayContext, endpoint: string, errorFrameFor: ErrorFramer = (_ws, m) => errorFrame(m)) {
  const { metrics, config } = ctx;
  const limiter = new SocketRateLimiter<SocketData>(config.wsRateLimitPerS);
  const fail = (ws: WebSocket<SocketData>, reason: string, message: string) => {
    metrics.clientErrors.inc({ endpoint, reason });
    sendFrame(ws, errorFrameFor(ws, message), ctx);
  };

  return (ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): unknown => {
    const data = ws.getUserData();
    metrics.received.inc({ endpoint });
    if (message.byteLength > config.wsMaxPayloadBytes) {
      metrics.clientErrors.inc({ endpoint, reason: 'too_big' });
      ws.end(CLOSE_MESSAGE_TOO_BIG, `message over ${config.wsMaxPayloadBytes} bytes`);
      return undefined;
    }
    switch (limiter.take(data)) {
      case 'allowed':
        break;
      case 'flood':
        metrics.clientErrors.inc({ endpoint, reason: 'flood' });
        ws.end(CLOSE_POLICY_VIOLATION, 'rate limit exceeded');
        return undefined;
      case 'limited_first':
        // One notice per window; the rest are dropped silently (no amplification).
        fail(ws, 'rate_limited', `rate limit exceeded: at most ${config.wsRateLimitPerS} messages per second`);
        return undefined;
      case 'limited':
        return undefined;
    }
    if (data.closed) return undefined;
    // The ArrayBuffer is only valid during the uWS callback: decode it now.
    const text = isBinary ? undefined : Buffer.from(message).toString('utf8');
    if (text === undefined) {
      fail(ws, 'binary', 'binary frames are not supported: send JSON text frames');
      return undefined;
    }
    // Nesting is bounded by `validate` (JSON_MAX_DEPTH) before anything recursive runs.
    const parsed = parseJson(text);
    if (!parsed.ok) {
      fail(ws, 'invalid_json', parsed.error);
      return undefined;
    }
    return parsed.value;
  };
}

/** Answers a frame that parsed as JSON but is not a valid message. */
export function rejectMessage(ws: WebSocket<SocketData>, ctx: GatewayContext, reason: string, frame = errorFrame(reason)): void {
  const endpoint = ws.getUserData().endpoint;
  ctx.metrics.clientErrors.inc({ endpoint, reason: 'invalid_message' });
  sendFrame(ws, frame, ctx);
}
