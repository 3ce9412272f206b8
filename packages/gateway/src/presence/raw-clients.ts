import type { WebSocket } from 'uWebSockets.js';
import { errorFrame, isPresenceMessage, presenceClientMessageSchema, validate, type PresenceDiff, type PresenceResumed } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import type { SocketData } from '../ws/connections.js';
import { rejectMessage, sendFrame } from '../ws/inbound.js';
import { parseResume } from '../ws/resume.js';
import { DiffSubscriber } from './diff-stream.js';
import { netDiffs } from './diff-window.js';

/**
 * A diff as UTF-8 bytes, serialized and encoded once however many subscribers get it (a stream
 * hands them all the same object): uWS sends bytes as they are, where a string is encoded again,
 * into a fresh native copy, for every socket.
 */
const diffBytes = new WeakMap<PresenceDiff, Buffer>();
const bytesOf = (diff: PresenceDiff): Buffer => {
  let bytes = diffBytes.get(diff);
  if (bytes === undefined) diffBytes.set(diff, (bytes = Buffer.from(JSON.stringify(diff))));
  return bytes;
};

/**
 * A subscriber whose socket holds more than this unsent (its client reads slower than diffs come,
 * as in a burst of joins) gets its next diffs netted into one rather than queued frame by frame.
 */
export const CONGESTED_BYTES = 16 * 1024;
/** How often a congested subscriber's socket is looked at again. */
export const CONGESTED_RECHECK_MS = 100;

/**
 * The bytes of a run of diffs netted into one. Subscribers congested over the same run (they held
 * the same first diff, and the stream hands every one the same objects) share them.
 */
const nettedBytes = new WeakMap<PresenceDiff, { last: PresenceDiff; bytes: Buffer }>();
function nettedOf(held: readonly PresenceDiff[]): Buffer {
  const [first, last] = [held[0] as PresenceDiff, held.at(-1) as PresenceDiff];
  if (first === last) return bytesOf(first);
  const cached = nettedBytes.get(first);
  if (cached?.last === last) return cached.bytes;
  const bytes = Buffer.from(JSON.stringify(netDiffs(held)));
  nettedBytes.set(first, { last, bytes });
  return bytes;
}

/**
 * A raw connection subscribed to diffs: one small object per subscription (no closures). While
 * its socket is congested, the diffs it is handed are held (one reference each: the stream's own
 * objects) and go out as one netted diff when the socket has room, so a slow client in a burst
 * costs neither a frame copy per diff nor the joins and leaves that cancelled meanwhile.
 */
export class RawDiffSubscriber extends DiffSubscriber {
  private readonly data: SocketData;
  private held: PresenceDiff[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    name: string,
    private readonly ws: WebSocket<SocketData>,
    private readonly ctx: GatewayContext,
  ) {
    super(name);
    this.data = ws.getUserData();
  }

  resumed(answer: PresenceResumed): void {
    this.flush();
    sendFrame(this.ws, JSON.stringify(answer), this.ctx);
  }

  diff(diff: PresenceDiff): void {
    if (this.held !== undefined) {
      // Never netted across an epoch change (positions of two epochs do not compare).
      if (this.held[0]?.epoch === diff.epoch) {
        this.held.push(diff);
        return;
      }
      this.flush();
    }
    if (!this.data.closed && this.ws.getBufferedAmount() > CONGESTED_BYTES) {
      this.held = [diff];
      this.recheck();
      return;
    }
    sendFrame(this.ws, bytesOf(diff), this.ctx);
  }

  override detached(): void {
    this.held = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Sends what is held, netted, whatever the socket's state. */
  private flush(): void {
    const held = this.held;
    if (held === undefined) return;
    this.detached();
    sendFrame(this.ws, nettedOf(held), this.ctx);
  }

  private recheck(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.data.closed) this.held = undefined;
      else if (this.ws.getBufferedAmount() > CONGESTED_BYTES) this.recheck();
      else this.flush();
    }, CONGESTED_RECHECK_MS);
    this.timer.unref();
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
