import type { Socket } from 'socket.io';
import { JOB_ADMIN_ROLE, JOB_CLIENT_EVENTS, jobId as jobIdSchema, jobOwnerKey, jobRoom } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { handler, type AckResult } from './acks.js';
import type { SocketIoData } from './auth.js';

/**
 * Job monitor client events: `subscribe` / `unsubscribe` a jobId. Subscribing needs an
 * authenticated user; a job whose events named an owner may only be followed by that owner or
 * an admin.
 */
export function registerJobMonitor(socket: Socket, ctx: GatewayContext): void {
  const data = socket.data as SocketIoData;
  const invalid = () => ctx.metrics.socketioErrors.inc({ reason: 'invalid_argument' });

  const subscribe = async (jobId: string): Promise<AckResult> => {
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
    await socket.join(jobRoom(jobId));
    return { ok: true };
  };

  socket.on(JOB_CLIENT_EVENTS.subscribe, handler(jobIdSchema, 'jobId', subscribe, invalid));
  socket.on(
    JOB_CLIENT_EVENTS.unsubscribe,
    handler(jobIdSchema, 'jobId', async (jobId) => {
      await socket.leave(jobRoom(jobId));
      return { ok: true };
    }, invalid),
  );
}
