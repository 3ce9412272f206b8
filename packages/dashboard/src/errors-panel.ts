import { AuthError, ErrorMonitorClient, type ErrorEventRecord } from '@switchboard/client';
import { $, LIMITS, compact, el, levelBadge, pushBounded, resumeNote, setStatus, time } from './dom.js';
import { authProblem, currentToken } from './session.js';
import { RECONNECT, origin } from './settings.js';
import { showWatching } from './watching.js';

function addError(record: ErrorEventRecord, count: number): void {
  $('error-count').textContent = String(count);
  const li = el('li');
  const line1 = el('div', 'line1');
  line1.append(el('span', 't', time(record.createdAt)), levelBadge(record.level), el('span', 'service', record.service));
  const where = [record.method, record.path].filter((v): v is string => typeof v === 'string' && v !== '').join(' ');
  if (where) line1.append(el('span', 'meta', where));
  li.append(line1, el('div', 'msg', record.message ?? '(no message)'));
  const hasMeta = record.metadata !== null && Object.keys(record.metadata).length > 0;
  if (record.stack || hasMeta) {
    const details = el('details');
    details.append(el('summary', '', record.stack ? 'stack' : 'metadata'));
    if (record.stack) details.append(el('pre', '', record.stack));
    if (hasMeta) details.append(el('pre', '', compact(record.metadata, 2_000)));
    li.append(details);
  }
  pushBounded($('errors'), li, LIMITS.errors);
}

/** The Socket.IO status line (the error feed's connection; job progress has its own). */
function showSocketIoStatus(client: ErrorMonitorClient): void {
  setStatus('sio', 'connecting', 'connecting…');
  client.on('state', (state) => {
    if (state === 'open') {
      setStatus('sio', 'live', 'live');
      authProblem('socket.io');
    } else if (state === 'connecting') setStatus('sio', 'connecting', 'connecting…');
    // 'reconnecting' follows a disconnect (which says why); 'closed' follows an error (which says why).
  });
  client.on('disconnect', ({ reason }) => setStatus('sio', 'connecting', `disconnected (${reason}), reconnecting…`));
  client.on('resumed', (outcome) => setStatus('sio', 'live', `live · ${resumeNote(outcome)}${outcome.recovered ? '' : ' (events sent meanwhile are missing)'}`));
  client.on('error', (err) => {
    if (!(err instanceof AuthError)) return;
    setStatus('sio', '', err.message);
    if (/^Authentication/.test(err.message)) authProblem('socket.io', err.message);
  });
}

/** The live error feed (Socket.IO `error:new`). */
export class ErrorsPanel {
  private client: ErrorMonitorClient | undefined;
  private count = 0;
  private stopWatching: (() => void) | undefined;

  restart(): void {
    this.client?.close();
    const client = new ErrorMonitorClient({ url: origin, token: currentToken(), reconnect: RECONNECT });
    this.client = client;
    this.stopWatching?.();
    this.stopWatching = showWatching($('errors-watching'), client);
    showSocketIoStatus(client);
    client.on('error:new', (record) => addError(record, ++this.count));
  }
}
