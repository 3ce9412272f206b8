import { AnalyticsClient, type Stats } from '@switchboard/client';
import { $, LIMITS, compact, el, num, pushBounded, resumeNote, seconds, setStatus, time } from './dom.js';
import { currentToken } from './session.js';
import { RECONNECT, origin } from './settings.js';
import { showWatching } from './watching.js';

const STAT_FIELDS = ['current_visitors', 'unique_today', 'total_events', 'letters_today'] as const;
/** A heartbeat is due every few seconds: a connection silent this long is a dead one. */
const SILENCE_MS = 30_000;

function addLine(type: string, text: string, className?: string): void {
  const li = el('li', className);
  li.append(el('span', 't', time(Date.now())), el('span', 'type', type), el('span', 'msg', text));
  pushBounded($('feed'), li, LIMITS.events);
}

function showStats(stats: Stats): void {
  for (const name of STAT_FIELDS) {
    const value = num(stats[name]);
    if (value !== undefined) $(name).textContent = value.toLocaleString('en-US');
  }
}

/** Live statistics and the event feed (`/ws/analytics`). */
export class AnalyticsPanel {
  private client: AnalyticsClient | undefined;
  private lastBeat = 0;
  private stopWatching: (() => void) | undefined;

  constructor() {
    setInterval(() => {
      if (this.client?.state === 'open' && Date.now() - this.lastBeat > SILENCE_MS) this.restart();
    }, 5_000);
    $('refresh').addEventListener('click', () => void this.client?.refreshStats().catch(() => undefined));
    $('send').addEventListener('click', () => void sendTestEvent());
  }

  /** (Re)connects with the current token, resuming where the previous connection left off. */
  restart(): void {
    const previous = this.client;
    previous?.close();
    const client = new AnalyticsClient({
      url: origin,
      token: currentToken(),
      reconnect: RECONNECT,
      ...(previous?.position !== undefined ? { resumeFrom: previous.position } : {}),
    });
    this.client = client;
    this.stopWatching?.();
    this.stopWatching = showWatching($('analytics-watching'), client);
    this.lastBeat = Date.now();
    let opened = false;
    setStatus('analytics', 'connecting', 'connecting…');
    client.on('open', () => {
      opened = true;
      this.lastBeat = Date.now();
      setStatus('analytics', 'live', 'live');
    });
    client.on('disconnect', ({ code, reconnectInMs }) => {
      const why = opened ? `disconnected (${code})` : currentToken() ? 'connection refused (token?)' : 'cannot connect';
      opened = false;
      setStatus('analytics', '', reconnectInMs === undefined ? why : `${why}, retrying in ${seconds(reconnectInMs)}`);
    });
    client.on('resumed', (outcome) => {
      const note = resumeNote(outcome);
      setStatus('analytics', 'live', `live · ${note}`);
      addLine('reconnected', note, outcome.recovered ? undefined : 'gap');
    });
    client.on('gap', (gap) => {
      if (gap.reason === 'offset_jump') addLine('gap', `missed ${gap.got - gap.expected} message(s)`, 'gap');
    });
    client.on('stats', showStats);
    client.on('heartbeat', () => {
      this.lastBeat = Date.now();
      $('heartbeat').textContent = `heartbeat ${time(Date.now())}`;
    });
    client.on('event', (event) => addLine(event.type, `${event.visitor_id} ${compact(event.data)}`));
    client.on('server_error', ({ message }) => addLine('error', message, 'gap'));
  }
}

/** Posts a page_view to /events (refused without a producer key when the server requires one). */
async function sendTestEvent(): Promise<void> {
  const visitor = `dashboard-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const res = await fetch('/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'page_view', visitor_id: visitor, data: { path: location.pathname } }),
    });
    $('send-result').textContent = res.status === 202 ? 'accepted' : `refused (${res.status})`;
  } catch {
    $('send-result').textContent = 'failed';
  }
}
