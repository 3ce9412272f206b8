import type { JOB_CLIENT_EVENTS as ProtocolClientEvents, JOB_EVENT as ProtocolJobEvent, JobEventType } from '@switchboard/protocol';
import { hasNumbers, isObject, isString } from '../core/guards.js';
import { SocketIoClient, type SocketIoBaseEvents, type SocketIoClientOptions } from './base.js';

const JOB_EVENT: typeof ProtocolJobEvent = 'event';
const CLIENT_EVENTS: typeof ProtocolClientEvents = { subscribe: 'subscribe', unsubscribe: 'unsubscribe' };
const JOB_EVENT_TYPES: readonly JobEventType[] = ['job_started', 'job_progress', 'job_completed', 'job_failed', 'item_scraped', 'error'];
const PROGRESS_FIELDS = ['itemsScraped', 'pagesScraped', 'currentPage', 'totalPages', 'elapsedTime'] as const;

/** `job_progress` data (docs/protocol-socketio.md). */
export interface JobProgress {
  itemsScraped: number;
  pagesScraped: number;
  currentPage: number;
  totalPages: number;
  elapsedTime: number;
  [extra: string]: unknown;
}

interface JobEventBase {
  jobId: string;
  timestamp: string;
}

/** A job event as received: `job_progress` carries typed progress figures. */
export type ReceivedJobEvent =
  | (JobEventBase & { type: 'job_progress'; data: JobProgress })
  | (JobEventBase & { type: Exclude<JobEventType, 'job_progress'>; data: Record<string, unknown> });

export type JobMonitorEvents = SocketIoBaseEvents & {
  /** Events of the jobs this client subscribed to. */
  event: ReceivedJobEvent;
};

export function readJobEvent(payload: unknown): ReceivedJobEvent | string {
  if (!isObject(payload)) return 'expected an object';
  const { type, jobId, timestamp, data } = payload;
  if (!JOB_EVENT_TYPES.includes(type as JobEventType)) return `type must be one of ${JOB_EVENT_TYPES.join(', ')}`;
  if (!isString(jobId) || !isString(timestamp)) return 'jobId and timestamp must be strings';
  const body = data ?? {};
  if (!isObject(body)) return 'data must be an object';
  if (type === 'job_progress') {
    if (!hasNumbers(body, PROGRESS_FIELDS)) return `job_progress data must carry numeric ${PROGRESS_FIELDS.join(', ')}`;
    return { type, jobId, timestamp, data: body as JobProgress };
  }
  return { type: type as Exclude<JobEventType, 'job_progress'>, jobId, timestamp, data: body };
}

/**
 * The job monitor (docs/protocol-socketio.md): follow jobs by id. Needs an authenticated user (a token);
 * jobs with an owner are visible to that owner and admins only.
 */
export class JobMonitorClient extends SocketIoClient<JobMonitorEvents> {
  constructor(options: SocketIoClientOptions) {
    super(options);
    this.listen(JOB_EVENT, readJobEvent, (event) => this.emit('event', event));
  }

  /** Joins `job:<jobId>`; rejects with the server's reason (e.g. `Forbidden: …`). Restored after reconnects. */
  subscribe(jobId: string): Promise<void> {
    return this.subscribeTo(CLIENT_EVENTS.subscribe, jobId);
  }

  unsubscribe(jobId: string): Promise<void> {
    return this.unsubscribeFrom(CLIENT_EVENTS.subscribe, CLIENT_EVENTS.unsubscribe, jobId);
  }

  /** Listens to one job's events; returns the function that stops listening. */
  onJob(jobId: string, listener: (event: ReceivedJobEvent) => void): () => void {
    return this.on('event', (event) => {
      if (event.jobId === jobId) listener(event);
    });
  }
}
