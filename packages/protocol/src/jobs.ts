import { z } from 'zod';
import { jsonObject, tokenString } from './common.js';

/** Job event types (docs/protocol-socketio.md); anything else is refused at ingest. */
export const JOB_EVENT_TYPES = ['job_started', 'job_progress', 'job_completed', 'job_failed', 'item_scraped', 'error'] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** The Socket.IO event name job events arrive under, and the client events to (un)subscribe. */
export const JOB_EVENT = 'event';
export const JOB_CLIENT_EVENTS = { subscribe: 'subscribe', unsubscribe: 'unsubscribe' } as const;

export const jobRoom = (jobId: string): string => `job:${jobId}`;
/** Every authenticated socket joins its user's room: a user's sessions are reachable on every node. */
export const userRoom = (sub: string): string => `user:${sub}`;
/** Sockets whose token carries a role join its room (e.g. `role:admin` sees every job). */
export const roleRoom = (role: string): string => `role:${role}`;
/** The role that may follow any job, whoever owns it. */
export const JOB_ADMIN_ROLE = 'admin';

export const jobId = tokenString(128);

const count = z.number({ error: 'expected a non-negative number' }).nonnegative({ error: 'expected a non-negative number' });
export const jobProgressDataSchema = z.looseObject(
  {
    itemsScraped: count,
    pagesScraped: count,
    currentPage: count,
    totalPages: count,
    elapsedTime: count,
  },
  { error: 'expected an object' },
);

/**
 * `POST /jobs/:jobId/events` body (plus the path's jobId): `{type, data?, ownerId?}`.
 * `job_progress` data must carry the five progress figures.
 */
export const jobIngestSchema = z
  .object(
    {
      jobId,
      type: z.enum(JOB_EVENT_TYPES, { error: `expected one of ${JOB_EVENT_TYPES.join(', ')}` }),
      data: jsonObject.optional(),
      ownerId: tokenString(128).optional(),
    },
    { error: 'expected a JSON object' },
  )
  .superRefine((body, ctx) => {
    if (body.type !== 'job_progress') return;
    const progress = jobProgressDataSchema.safeParse(body.data);
    if (!progress.success) {
      const issue = progress.error.issues[0];
      ctx.addIssue({ code: 'custom', path: ['data', ...(issue?.path ?? [])], message: issue?.message ?? 'invalid' });
    }
  });
export type JobIngest = z.output<typeof jobIngestSchema>;

/** What subscribers of `job:<jobId>` receive as `event`. */
export interface JobEvent {
  type: JobEventType;
  jobId: string;
  timestamp: string;
  data: Record<string, unknown>;
}
