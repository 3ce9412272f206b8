import {
  JOB_ADMIN_ROLE,
  JOB_EVENT,
  JOB_OWNER_TTL_S,
  jobIngestSchema,
  jobOwnerKey,
  jobRoom,
  roleRoom,
  userRoom,
  type JobEvent,
} from '@switchboard/protocol';
import type { CommitGuard, Publish, StoreOp } from '@switchboard/engine';
import { decodeBody, type DecodedEntry, type ProductResult, type StateReader } from '../entry.js';
import { socketIoEmit, socketIoLeave } from './socketio-emit.js';

/**
 * A job event: `event` to room `job:<jobId>`. When the event names an owner, the job is
 * restricted to that owner (and admins): the owner is remembered for the gateways' subscribe
 * check, and any other socket already in the room is made to leave it, cluster-wide. An event
 * naming another owner than the one remembered is refused: it would evict the owner's sockets.
 */
export async function jobEventCommit(entry: DecodedEntry, guard: CommitGuard, _settings: unknown, state: StateReader): Promise<ProductResult> {
  const body = decodeBody(entry, jobIngestSchema);
  if (!body.ok) return body;
  const { jobId, type, data, ownerId } = body.value;
  if (ownerId !== undefined) {
    const [[owner] = []] = await state.readStrings([{ op: 'mget', keys: [jobOwnerKey(jobId)] }]);
    if (owner !== undefined && owner !== ownerId) return { ok: false, error: `ownerId: job "${jobId}" belongs to another owner` };
  }
  const event: JobEvent = { type, jobId, timestamp: new Date(entry.at).toISOString(), data: data ?? {} };
  const room = jobRoom(jobId);
  const ops: StoreOp[] = [];
  if (ownerId !== undefined) {
    ops.push(
      { op: 'setnx', key: jobOwnerKey(jobId), value: ownerId, seconds: JOB_OWNER_TTL_S },
      { op: 'expire', key: jobOwnerKey(jobId), seconds: JOB_OWNER_TTL_S },
    );
  }
  const publish: Publish[] = [];
  // The leave comes first in the channel, so a recovering session replays it before the event.
  if (ownerId !== undefined) publish.push(socketIoLeave({ rooms: [room], except: [userRoom(ownerId), roleRoom(JOB_ADMIN_ROLE)] }, [room]));
  publish.push(socketIoEmit({ rooms: [room], except: [] }, JOB_EVENT, event));
  return { ok: true, commit: { guard, ops, publish } };
}
