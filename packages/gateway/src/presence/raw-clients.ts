import type { WebSocket } from 'uWebSockets.js';
import { errorFrame, isPresenceMessage, presenceClientMessageSchema, validate, type PresenceDiff, type PresenceResumed } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import type { SocketData } from '../ws/connections.js';
import { rejectMessage, sendFrame } from '../ws/inbound.js';
import { parseResume } from '../ws/resume.js';
import { DiffSubscriber } from './diff-stream.js';

/** A diff as text, serialized once however many subscribers get it (a stream hands them all the same object). */
const diffTexts = new WeakMap<PresenceDiff, string>();
const textOf = (diff: PresenceDiff): string => {
  let text = diffTexts.get(diff);
  if (text === undefined) diffTexts.set(diff, (text = JSON.stringify(diff)));
  return text;
};

/** A raw connection subscribed to diffs: one small object per subscription (no closures). */
class RawDiffSubscriber extends DiffSubscriber {
  constructor(
    name: string,
    private readonly ws: WebSocket<SocketData>,
    private readonly ctx: GatewayContext,
  ) {
    super(name);
  }

  resumed(answer: PresenceResumed): void {
    sendFrame(this.ws, JSON.stringify(answer), this.ctx);
  }

  diff(diff: PresenceDiff): void {
    sendFrame(this.ws, textOf(diff), this.ctx);
  }
}

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
  if (!ctx.presence.enabled) return sendFrame(ws, errorFrame('presence is disabled on this gateway (PRESENCE_ENABLED=false)'), ctx);
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
        return await ctx.presence.subscribeDiffs(data, new RawDiffSubscriber(name, ws, ctx), resume.resume);
      }
      case 'presence_unsubscribe':
        return ctx.presence.unsubscribeDiffs(data, name);
    }
  } catch (err) {
    ctx.logger.warn({ err, name }, 'presence unavailable');
    sendFrame(ws, errorFrame('presence is temporarily unavailable'), ctx);
  }
}
