import type { Socket } from 'socket.io';
import { JOB_ADMIN_ROLE, JOB_CLIENT_EVENTS, jobId as jobIdSchema, jobOwnerKey, jobRoom } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { handler, type AckResult } from './acks.js';
import type { SocketIoData } from './auth.js';
import { changeStored } from './session-keeper.js';

/**
 * Job monitor client events: `subscribe` / `unsubscribe` a jobId. Subscribing needs an
 * authenticated user; a job whose events named an owner may only be followed by that owner or
 * an admin. Returns what registers them on a socket; the handlers are shared by every socket.
 */
export function jobMonitor(ctx: GatewayContext): (socket: Socket) => void {
  const invalid = () => ctx.metrics.socketioErrors.inc({ reason: 'invalid_argument' });

  const subscribe = async (socket: Socket, jobId: string): Promise<AckResult> => {
    const data = socket.data as SocketIoData;
    if (data.user === undefined) {
      ctx.metrics.socketioErrors.inc({ reason: 'auth_required' });
      return { ok: false, error: 'Authentication required' };
    }
    const [owner] = (await ctx.engine.readStrings([{ op: 'mget', keys: [jobOwnerKey(jobId)] }]))[0] ?? [];
    if (owner !== undefined && owner !== data.user.sub && !data.roles.includes(JOB_ADMIN_ROLE)) {
      ctx.metrics.socketioErrors.inc({ reason: 'forbidden' });
      return { ok: false, error: 'Forbidden: this job belongs to another user' };
    }
    if (!socket.connected) return { ok: false, error: 'disconnected' };
    await changeStored(socket, () => socket.join(jobRoom(jobId)));
    return { ok: true };
  };
  const unsubscribe = async (socket: Socket, jobId: string): Promise<AckResult> => {
    await changeStored(socket, () => socket.leave(jobRoom(jobId)));
    return { ok: true };
  };

  const onSubscribe = handler(jobIdSchema, 'jobId', subscribe, invalid);
  const onUnsubscribe = handler(jobIdSchema, 'jobId', unsubscribe, invalid);
  return (socket) => {
    socket.on(JOB_CLIENT_EVENTS.subscribe, onSubscribe);
    socket.on(JOB_CLIENT_EVENTS.unsubscribe, onUnsubscribe);
  };
}
