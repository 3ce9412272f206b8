import type { WebSocket } from 'uWebSockets.js';
import { errorFrame, isPresenceMessage, presenceClientMessageSchema, validate } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import type { SocketData } from '../ws/connections.js';
import { rejectMessage, sendFrame } from '../ws/inbound.js';
import { parseResume } from '../ws/resume.js';

/**
 * A raw client's presence message (`presence`, `presence_subscribe`, `presence_unsubscribe`) on the
 * channel `name` its endpoint serves; undefined when `json` is not one (the endpoint handles it).
 */
export function rawPresenceMessage(ctx: GatewayContext, ws: WebSocket<SocketData>, json: unknown, name: string): Promise<void> | undefined {
  if (!isPresenceMessage(json)) return undefined;
  return handle(ctx, ws, json, name);
}

async function handle(ctx: GatewayContext, ws: WebSocket<SocketData>, json: unknown, name: string): Promise<void> {
  const parsed = validate(presenceClientMessageSchema, json);
  if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
  const data = ws.getUserData();
  try {
    switch (parsed.value.type) {
      case 'presence': {
        const snapshot = await ctx.presence.clients.snapshot(name);
        if (snapshot !== undefined) sendFrame(ws, JSON.stringify(snapshot), ctx);
        return;
      }
      case 'presence_subscribe': {
        const resume = parseResume(parsed.value.epoch, parsed.value.since);
        if (!resume.ok) return rejectMessage(ws, ctx, resume.error);
        const send = (frame: object) => sendFrame(ws, JSON.stringify(frame), ctx);
        return await ctx.presence.subscribeDiffs(data, name, { resumed: send, diff: send }, resume.resume);
      }
      case 'presence_unsubscribe':
        return ctx.presence.unsubscribeDiffs(data, name);
    }
  } catch (err) {
    ctx.logger.warn({ err, name }, 'presence unavailable');
    sendFrame(ws, errorFrame('presence is temporarily unavailable'), ctx);
  }
}
