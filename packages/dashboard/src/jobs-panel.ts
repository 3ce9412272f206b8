import { AuthError, JobMonitorClient, RequestRejectedError, type PresenceSource, type ReceivedJobEvent } from '@switchboard/client';
import { $, LIMITS, compact, el, num, pushBounded, time } from './dom.js';
import { authProblem, currentToken } from './session.js';
import { RECONNECT, origin } from './settings.js';
import { showWatching } from './watching.js';

interface JobCard {
  jobId: string;
  card: HTMLElement;
  status: HTMLElement;
  bar: HTMLElement;
  fill: HTMLElement;
  figures: HTMLElement;
  note: HTMLElement;
  events: HTMLElement;
  watching: HTMLElement;
  stopWatching: (() => void) | undefined;
}

/** A job room's presence (`jobs:<jobId>`) as a presence source for the SDK's store. */
const jobPresence = (client: JobMonitorClient, jobId: string): PresenceSource => ({
  followPresence: (listener) => client.followPresence(listener, `jobs:${jobId}`),
});

function note(job: JobCard, text = ''): void {
  job.note.textContent = text;
  job.note.hidden = !text;
}

function setJobStatus(job: JobCard, status: string): void {
  job.status.textContent = status;
  job.status.className = `job-status ${status}`;
}

function showEvent(job: JobCard, event: ReceivedJobEvent): void {
  switch (event.type) {
    case 'job_started':
      setJobStatus(job, 'running');
      break;
    case 'job_progress': {
      setJobStatus(job, 'running');
      const { currentPage, totalPages, itemsScraped, pagesScraped, elapsedTime } = event.data;
      if (totalPages) job.fill.style.width = `${Math.min(100, (currentPage / totalPages) * 100)}%`;
      job.figures.textContent = [
        `page ${num(currentPage) ?? '?'} / ${num(totalPages) ?? '?'}`,
        `${num(itemsScraped) ?? 0} items`,
        `${num(pagesScraped) ?? 0} pages scraped`,
        num(elapsedTime) === undefined ? '' : `${(elapsedTime / 1000).toFixed(1)} s`,
      ]
        .filter(Boolean)
        .join(' · ');
      break;
    }
    case 'job_completed':
      setJobStatus(job, 'completed');
      job.bar.className = 'bar done';
      job.fill.style.width = '100%';
      break;
    case 'job_failed':
      setJobStatus(job, 'failed');
      job.bar.className = 'bar failed';
      break;
    default:
      break;
  }
  const li = el('li');
  li.append(el('span', 't', time(event.timestamp)), el('span', 'type', event.type), el('span', 'msg', compact(event.data)));
  pushBounded(job.events, li, LIMITS.jobEvents);
}

/** Followed jobs' progress (Socket.IO rooms `job:<id>`; the SDK joins them again after a reconnect). */
export class JobsPanel {
  private client: JobMonitorClient | undefined;
  private readonly jobs = new Map<string, JobCard>();

  restart(): void {
    this.client?.close();
    for (const job of this.jobs.values()) {
      job.stopWatching?.();
      job.stopWatching = undefined;
    }
    const client = new JobMonitorClient({ url: origin, token: currentToken(), reconnect: RECONNECT });
    this.client = client;
    client.on('event', (event) => {
      const job = this.jobs.get(event.jobId);
      if (job !== undefined) showEvent(job, event);
    });
    client.on('resumed', ({ recovered }) => {
      if (recovered) return;
      for (const job of this.jobs.values()) note(job, 'reconnected — events sent meanwhile may be missing');
    });
    client.on('error', (err) => {
      if (!(err instanceof AuthError)) return;
      if (/^Authentication/.test(err.message)) authProblem('socket.io', err.message);
      for (const job of this.jobs.values()) note(job, err.message);
    });
    for (const job of this.jobs.values()) this.subscribe(job);
  }

  follow(jobId: string): void {
    if (this.jobs.has(jobId)) return;
    const oldest = [...this.jobs.keys()][0];
    if (this.jobs.size >= LIMITS.jobs && oldest !== undefined) this.unfollow(oldest);
    for (const placeholder of $('jobs').querySelectorAll(':scope > .empty')) placeholder.remove();
    const card = el('div', 'job');
    card.dataset['jobId'] = jobId;
    const head = el('div', 'job-head');
    const status = el('span', 'job-status', 'waiting');
    const close = el('button', 'link', '✕');
    close.type = 'button';
    close.title = 'stop following';
    close.addEventListener('click', () => this.unfollow(jobId));
    const watching = el('span', 'watching');
    head.append(el('span', 'job-id', jobId), status, watching, close);
    const bar = el('div', 'bar');
    const fill = el('div');
    bar.append(fill);
    const job: JobCard = { jobId, card, status, bar, fill, figures: el('div', 'job-figures', 'no progress yet'), note: el('div', 'job-note'), events: el('ol', 'feed'), watching, stopWatching: undefined };
    card.append(head, bar, job.figures, job.note, job.events);
    $('jobs').prepend(card);
    note(job);
    this.jobs.set(jobId, job);
    if (this.client?.state !== 'open') note(job, 'waiting for the connection…');
    this.subscribe(job);
  }

  unfollow(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (job === undefined) return;
    this.jobs.delete(jobId);
    job.stopWatching?.();
    job.card.remove();
    this.client?.unsubscribe(jobId).catch(() => undefined); // the room ends with the connection anyway
  }

  private subscribe(job: JobCard): void {
    this.client?.subscribe(job.jobId).then(
      () => {
        if (this.jobs.get(job.jobId) !== job) return;
        note(job);
        if (job.stopWatching === undefined && this.client !== undefined) job.stopWatching = showWatching(job.watching, jobPresence(this.client, job.jobId));
        if (job.status.textContent === 'waiting' || job.status.textContent === 'refused') setJobStatus(job, 'subscribed');
      },
      (err: unknown) => {
        if (this.jobs.get(job.jobId) !== job) return;
        if (err instanceof RequestRejectedError) {
          setJobStatus(job, 'refused');
          return note(job, err.reason);
        }
        // Refused credentials are noted by the error handler; anything else is a lost answer.
        if (this.client?.state === 'open') note(job, 'no answer from the server');
      },
    );
  }
}
