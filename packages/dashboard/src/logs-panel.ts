import { AuthError, LogsClient, type LogEntry } from '@switchboard/client';
import { $, LIMITS, compact, el, levelBadge, num, pushBounded, resumeNote, seconds, setStatus, time } from './dom.js';
import { authProblem, currentToken, tokenSubject } from './session.js';
import { RECONNECT, origin } from './settings.js';
import { showWatching } from './watching.js';

/** One app's logs (`/ws/logs`): its history on connect, then live lines. */
export class LogsPanel {
  private client: LogsClient | undefined;
  private appId = '';
  private stopWatching: (() => void) | undefined;
  /** Entry ids on screen: a refetched history overlaps what is shown. */
  private readonly shown = new Set<string>();

  get following(): string {
    return this.appId;
  }

  start(appId: string): void {
    this.stop();
    this.appId = appId;
    $('log-app-label').textContent = appId;
    this.clearView();
    const client = new LogsClient({ url: origin, appId, userId: tokenSubject() ?? 'dashboard', token: currentToken(), reconnect: RECONNECT });
    this.client = client;
    this.stopWatching = showWatching($('logs-watching'), client);
    setStatus('logs', 'connecting', 'connecting…');
    client.on('authenticated', () => {
      authProblem('logs');
      setStatus('logs', 'live', `live · ${appId}`);
    });
    client.on('open', () => {
      // A resumed connection replays what it missed (or, when it cannot, the SDK refetches the history).
      if (!client.resuming) client.requestHistory().catch(() => undefined);
    });
    client.on('history', (entries) => this.render(entries, true));
    client.on('logs', (entries) => this.render(entries, false));
    client.on('cleared', () => this.clearView());
    client.on('resumed', (outcome) => setStatus('logs', 'live', `live · ${appId} · ${resumeNote(outcome)}`));
    client.on('metrics', (m) => {
      const parts: string[] = [];
      if (num(m.activeConnections) !== undefined) parts.push(`${m.activeConnections} log clients`);
      if (num(m.messageRate) !== undefined) parts.push(`${m.messageRate.toFixed(1)} msg/s`);
      if (num(m.errorRate) !== undefined) parts.push(`${m.errorRate.toFixed(1)} err/s`);
      $('log-metrics').textContent = parts.join(' · ');
    });
    client.on('server_error', ({ message }) => setStatus('logs', 'live', `live · ${appId} · ${message}`));
    client.on('disconnect', ({ code, reconnectInMs }) => {
      if (reconnectInMs !== undefined) setStatus('logs', '', `disconnected (${code}), retrying in ${seconds(reconnectInMs)}`);
    });
    client.on('error', (err) => {
      if (!(err instanceof AuthError)) return;
      setStatus('logs', '', err.message);
      if (/^Authentication/.test(err.message)) authProblem('logs', err.message);
    });
  }

  stop(text = 'not connected'): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
    this.client?.close();
    this.client = undefined;
    this.appId = '';
    setStatus('logs', 'off', text);
  }

  private render(entries: readonly LogEntry[], history: boolean): void {
    const list = $('logs');
    for (const entry of entries) {
      if (this.shown.has(entry.id)) continue;
      this.shown.add(entry.id);
      const li = el('li', history ? 'history' : '');
      li.dataset['id'] = entry.id;
      li.append(el('span', 't', time(entry.timestamp)), levelBadge(entry.level), el('span', 'msg', entry.message));
      if (entry.metadata !== undefined) li.append(el('span', 'meta', compact(entry.metadata)));
      pushBounded(list, li, LIMITS.logs);
    }
    for (const id of this.shown) {
      if (this.shown.size <= LIMITS.logs * 2) break;
      this.shown.delete(id);
    }
  }

  private clearView(): void {
    $('logs').replaceChildren();
    this.shown.clear();
  }
}
