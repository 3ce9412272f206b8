// Switchboard dashboard (DESIGN section 6): live statistics (/ws/analytics), the error feed and
// job progress (Socket.IO, default namespace), and an application's logs (/ws/logs).
//
// Everything producers send (event data, error messages, stacks, log lines) is attacker-controlled:
// it reaches the DOM only through textContent, never as markup. The server's CSP forbids inline
// script too, so even markup that slipped in could not run.
//
// Settings come from the URL fragment, which browsers never send to the server:
//   /#token=<jwt>&app=<appId>&job=<jobId>
(() => {
  'use strict';

  const LIMITS = { events: 100, errors: 200, logs: 500, jobs: 8, jobEvents: 50 };
  const NAME = /^[A-Za-z0-9_.:-]{1,128}$/; // appId / jobId as the server accepts them

  /** A server frame as an object, or undefined when it is not JSON or not an object. */
  function parseFrame(data) {
    try {
      const msg = JSON.parse(data);
      return msg !== null && typeof msg === 'object' ? msg : undefined;
    } catch {
      return undefined;
    }
  }

  /** The trimmed value of a name field, or undefined (and the field says why) when invalid. */
  function readName(inputId) {
    const input = $(inputId);
    const value = input.value.trim();
    input.setCustomValidity(NAME.test(value) ? '' : "letters, digits, '_', '-', '.' or ':'");
    if (!input.reportValidity()) return undefined;
    return value;
  }
  const TOKEN_KEY = 'switchboard.token';
  const STAT_FIELDS = ['current_visitors', 'unique_today', 'total_events', 'letters_today'];
  const LEVEL_CLASSES = new Set(['fatal', 'critical', 'error', 'warn', 'warning', 'info', 'debug', 'trace']);
  const wsBase = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;

  const $ = (id) => document.getElementById(id);

  /** An element with a class and text; text is always set with textContent. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** Adds an item to a list, newest first or last, keeping at most `max` items. */
  function pushBounded(list, item, max, { newestFirst = true } = {}) {
    for (const placeholder of list.querySelectorAll(':scope > .empty')) placeholder.remove();
    if (newestFirst) list.prepend(item);
    else list.append(item);
    while (list.children.length > max) (newestFirst ? list.lastElementChild : list.firstElementChild).remove();
  }

  const time = (value) => {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour12: false });
  };
  const compact = (value, max = 300) => {
    let text;
    try {
      text = JSON.stringify(value);
    } catch {
      text = String(value);
    }
    if (text === undefined || text === '{}') return '';
    return text.length > max ? `${text.slice(0, max)}…` : text;
  };
  const num = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  const levelBadge = (level) => {
    const name = String(level ?? '').toLowerCase();
    return el('span', `level${LEVEL_CLASSES.has(name) ? ` ${name}` : ''}`, name || '?');
  };

  /** Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 15 s. */
  function backoff() {
    let attempt = 0;
    return {
      next() {
        const base = Math.min(15_000, 500 * 2 ** attempt++);
        return Math.round(base / 2 + (Math.random() * base) / 2);
      },
      reset() {
        attempt = 0;
      },
    };
  }

  function setStatus(name, kind, text) {
    $(`${name}-dot`).className = `dot ${kind}`;
    $(`${name}-state`).textContent = text;
  }

  // ---- token ---------------------------------------------------------------------------------
  // Taken from the fragment (then removed from the address bar) or the token field, and kept for
  // this tab only (sessionStorage), so a reload keeps working.
  const fragment = new URLSearchParams(location.hash.slice(1));
  let token = fragment.get('token') ?? safeStorage('get') ?? '';
  if (fragment.has('token')) {
    safeStorage('set', token);
    fragment.delete('token');
    const rest = fragment.toString();
    history.replaceState(null, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  }
  $('token').value = token;

  function safeStorage(op, value) {
    try {
      if (op === 'get') return sessionStorage.getItem(TOKEN_KEY);
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // storage disabled: the token lives in memory only
    }
    return null;
  }

  /** The token's `sub` (unverified: only to name ourselves on /ws/logs, where it must match). */
  function tokenSubject() {
    try {
      const part = token.split('.')[1] ?? '';
      const claims = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
      return typeof claims.sub === 'string' && claims.sub !== '' ? claims.sub : undefined;
    } catch {
      return undefined;
    }
  }

  const authProblems = new Map();
  function authProblem(source, message) {
    if (message) authProblems.set(source, message);
    else authProblems.delete(source);
    const banner = $('auth-banner');
    const first = [...authProblems.values()][0];
    banner.hidden = first === undefined;
    if (first === undefined) return;
    banner.textContent = token
      ? `${first}: the token was refused (expired, signed with another key, or not granting this). Paste another token above.`
      : `${first}: this server needs a token. Paste a JWT in the Token field above, or open this page as /#token=<jwt>.`;
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    safeStorage('set', token);
    authProblems.clear();
    authProblem('none');
    analytics.restart();
    connectSocket();
    if (logs.appId) logs.start(logs.appId);
  });

  // ---- live statistics: /ws/analytics ----------------------------------------------------------
  const analytics = (() => {
    let ws;
    let timer;
    let lastOffset;
    let lastBeat = 0;
    const retry = backoff();

    function addLine(type, text, cls) {
      const li = el('li', cls);
      li.append(el('span', 't', time(Date.now())), el('span', 'type', type), el('span', 'msg', text));
      pushBounded($('feed'), li, LIMITS.events);
    }
    function showStats(stats) {
      for (const f of STAT_FIELDS) {
        const value = num(stats?.[f]);
        if (value !== undefined) $(f).textContent = value.toLocaleString('en-US');
      }
    }

    function connect() {
      clearTimeout(timer);
      setStatus('analytics', 'connecting', 'connecting…');
      const url = `${wsBase}/ws/analytics${token ? `?token=${encodeURIComponent(token)}` : ''}`;
      const socket = new WebSocket(url);
      ws = socket;
      let opened = false;
      socket.onopen = () => {
        opened = true;
        retry.reset();
        lastBeat = Date.now();
        setStatus('analytics', 'live', 'live');
      };
      socket.onmessage = (e) => {
        const msg = parseFrame(e.data);
        if (msg === undefined) return;
        if (typeof msg.offset === 'number') {
          if (lastOffset !== undefined && msg.offset > lastOffset + 1) addLine('gap', `missed ${msg.offset - lastOffset - 1} message(s)`, 'gap');
          lastOffset = msg.offset;
        }
        if (msg.type === 'initial_stats' || msg.type === 'heartbeat') {
          showStats(msg.data);
          if (msg.type === 'heartbeat') {
            lastBeat = Date.now();
            $('heartbeat').textContent = `heartbeat ${time(Date.now())}`;
          }
        } else if (msg.type === 'error') {
          addLine('error', msg.message, 'gap');
        } else if (msg.visitor_id !== undefined) {
          addLine(String(msg.type), `${msg.visitor_id} ${compact(msg.data ?? {})}`);
        }
      };
      socket.onclose = (e) => {
        if (ws !== socket) return; // replaced by a restart
        lastOffset = undefined;
        const wait = retry.next();
        const why = opened ? `disconnected (${e.code})` : token ? 'connection refused (token?)' : 'cannot connect';
        setStatus('analytics', '', `${why}, retrying in ${(wait / 1000).toFixed(1)} s`);
        timer = setTimeout(connect, wait);
      };
    }

    // A heartbeat is due every few seconds; a silent connection is a dead one.
    setInterval(() => {
      if (ws && ws.readyState === WebSocket.OPEN && Date.now() - lastBeat > 30_000) ws.close();
    }, 5_000);
    $('refresh').addEventListener('click', () => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'refresh_stats' })));
    $('send').addEventListener('click', async () => {
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
    });

    return {
      start: connect,
      restart() {
        const old = ws;
        ws = undefined;
        old?.close();
        retry.reset();
        connect();
      },
    };
  })();

  // ---- Socket.IO: error feed and job progress -------------------------------------------------
  let socket;
  let errorCount = 0;
  const sioRetry = backoff();
  let sioTimer;

  function connectSocket() {
    clearTimeout(sioTimer);
    if (socket) {
      socket.removeAllListeners();
      socket.io.removeAllListeners();
      socket.disconnect();
    }
    if (typeof io !== 'function') {
      setStatus('sio', '', 'Socket.IO client failed to load');
      return;
    }
    setStatus('sio', 'connecting', 'connecting…');
    const current = io({
      auth: token ? { token } : {},
      reconnectionDelay: 500,
      reconnectionDelayMax: 15_000,
      randomizationFactor: 0.5,
      forceNew: true,
    });
    socket = current;
    current.on('connect', () => {
      sioRetry.reset();
      setStatus('sio', 'live', 'live');
      authProblem('socket.io');
      for (const job of jobs.values()) subscribeJob(job);
    });
    current.on('connect_error', (err) => {
      const message = String(err?.message ?? err);
      if (current.active) {
        // a transport problem: the client retries by itself, with backoff
        setStatus('sio', 'connecting', `${message}, reconnecting…`);
        return;
      }
      // refused by the server: retrying with the same token would be refused again
      setStatus('sio', '', message);
      if (/^Authentication/.test(message)) {
        authProblem('socket.io', message);
        for (const job of jobs.values()) note(job, message);
      } else {
        sioTimer = setTimeout(() => current.connect(), sioRetry.next());
      }
    });
    current.on('disconnect', (reason) => {
      setStatus('sio', 'connecting', `disconnected (${reason}), reconnecting…`);
      // a server-side disconnect is final for the client: reconnect ourselves, later
      if (reason === 'io server disconnect') sioTimer = setTimeout(() => current.connect(), sioRetry.next());
    });
    current.on('error:new', addError);
    current.on('event', onJobEvent);
  }

  function addError(record) {
    if (!record || typeof record !== 'object') return;
    errorCount += 1;
    $('error-count').textContent = String(errorCount);
    const li = el('li');
    const line1 = el('div', 'line1');
    line1.append(el('span', 't', time(record.createdAt)), levelBadge(record.level), el('span', 'service', record.service));
    const where = [record.method, record.path].filter((v) => typeof v === 'string' && v !== '').join(' ');
    if (where) line1.append(el('span', 'meta', where));
    li.append(line1, el('div', 'msg', record.message ?? '(no message)'));
    const hasMeta = record.metadata && typeof record.metadata === 'object' && Object.keys(record.metadata).length > 0;
    if (record.stack || hasMeta) {
      const details = el('details');
      details.append(el('summary', '', record.stack ? 'stack' : 'metadata'));
      if (record.stack) details.append(el('pre', '', record.stack));
      if (hasMeta) details.append(el('pre', '', compact(record.metadata, 2_000)));
      li.append(details);
    }
    pushBounded($('errors'), li, LIMITS.errors);
  }

  // ---- job progress ----------------------------------------------------------------------------
  const jobs = new Map();

  function note(job, text) {
    job.note.textContent = text ?? '';
    job.note.hidden = !text;
  }
  function setJobStatus(job, status) {
    job.status.textContent = status;
    job.status.className = `job-status ${status}`;
  }

  function followJob(jobId) {
    if (jobs.has(jobId)) return;
    if (jobs.size >= LIMITS.jobs) unfollowJob([...jobs.keys()][0]);
    for (const placeholder of $('jobs').querySelectorAll(':scope > .empty')) placeholder.remove();
    const card = el('div', 'job');
    card.dataset.jobId = jobId;
    const head = el('div', 'job-head');
    const status = el('span', 'job-status', 'waiting');
    const close = el('button', 'link', '✕');
    close.type = 'button';
    close.title = 'stop following';
    close.addEventListener('click', () => unfollowJob(jobId));
    head.append(el('span', 'job-id', jobId), status, close);
    const bar = el('div', 'bar');
    const fill = el('div');
    bar.append(fill);
    const figures = el('div', 'job-figures', 'no progress yet');
    const noteEl = el('div', 'job-note');
    const events = el('ol', 'feed');
    card.append(head, bar, figures, noteEl, events);
    $('jobs').prepend(card);
    const job = { jobId, card, status, bar, fill, figures, note: noteEl, events };
    note(job, '');
    jobs.set(jobId, job);
    if (socket?.connected) subscribeJob(job);
    else note(job, 'waiting for the connection…');
  }

  function unfollowJob(jobId) {
    const job = jobs.get(jobId);
    if (!job) return;
    jobs.delete(jobId);
    job.card.remove();
    if (socket?.connected) socket.emit('unsubscribe', jobId);
  }

  function subscribeJob(job) {
    socket.timeout(10_000).emit('subscribe', job.jobId, (err, ack) => {
      if (jobs.get(job.jobId) !== job) return;
      if (err) return note(job, 'no answer from the server');
      if (ack && ack.ok) {
        note(job, '');
        if (job.status.textContent === 'waiting' || job.status.textContent === 'refused') setJobStatus(job, 'subscribed');
      } else {
        setJobStatus(job, 'refused');
        note(job, String(ack?.error ?? 'refused'));
      }
    });
  }

  function onJobEvent(event) {
    if (!event || typeof event !== 'object') return;
    const job = jobs.get(event.jobId);
    if (!job) return;
    const data = event.data && typeof event.data === 'object' ? event.data : {};
    switch (event.type) {
      case 'job_started':
        setJobStatus(job, 'running');
        break;
      case 'job_progress': {
        setJobStatus(job, 'running');
        const current = num(data.currentPage);
        const total = num(data.totalPages);
        if (current !== undefined && total) job.fill.style.width = `${Math.min(100, (current / total) * 100)}%`;
        const elapsed = num(data.elapsedTime);
        job.figures.textContent = [
          `page ${current ?? '?'} / ${total ?? '?'}`,
          `${num(data.itemsScraped) ?? 0} items`,
          `${num(data.pagesScraped) ?? 0} pages scraped`,
          elapsed === undefined ? '' : `${(elapsed / 1000).toFixed(1)} s`,
        ].filter(Boolean).join(' · ');
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
    li.append(el('span', 't', time(event.timestamp)), el('span', 'type', event.type), el('span', 'msg', compact(data)));
    pushBounded(job.events, li, LIMITS.jobEvents);
  }

  $('job-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const jobId = readName('job-id');
    if (jobId === undefined) return;
    followJob(jobId);
    $('job-id').value = '';
  });

  // ---- logs: /ws/logs ---------------------------------------------------------------------------
  const logs = (() => {
    let ws;
    let timer;
    const retry = backoff();
    const shown = new Set(); // entry ids on screen: history and live batches may overlap

    function render(entry, history) {
      if (!entry || typeof entry !== 'object' || typeof entry.id !== 'string' || shown.has(entry.id)) return;
      shown.add(entry.id);
      const li = el('li', history ? 'history' : '');
      li.dataset.id = entry.id;
      li.append(el('span', 't', time(entry.timestamp)), levelBadge(entry.level), el('span', 'msg', entry.message));
      if (entry.metadata && typeof entry.metadata === 'object') li.append(el('span', 'meta', compact(entry.metadata)));
      const list = $('logs');
      pushBounded(list, li, LIMITS.logs);
      while (shown.size > LIMITS.logs * 2) shown.delete(shown.values().next().value);
    }
    function clearView() {
      $('logs').replaceChildren();
      shown.clear();
    }

    function stop(text = 'not connected') {
      clearTimeout(timer);
      const old = ws;
      ws = undefined;
      old?.close(1000);
      setStatus('logs', 'off', text);
    }

    function start(appId) {
      stop();
      api.appId = appId;
      $('log-app-label').textContent = appId;
      clearView();
      connect();
    }

    function connect() {
      const appId = api.appId;
      setStatus('logs', 'connecting', 'connecting…');
      const socket = new WebSocket(`${wsBase}/ws/logs`);
      ws = socket;
      let refused = false;
      socket.onopen = () => {
        const data = { userId: tokenSubject() ?? 'dashboard', appId };
        if (token) data.token = token;
        socket.send(JSON.stringify({ type: 'auth', data }));
      };
      socket.onmessage = (e) => {
        const msg = parseFrame(e.data);
        if (msg === undefined || ws !== socket) return;
        switch (msg.type) {
          case 'auth_success':
            retry.reset();
            authProblem('logs');
            setStatus('logs', 'live', `live · ${appId}`);
            socket.send(JSON.stringify({ type: 'request_history' }));
            break;
          case 'auth_error': {
            refused = true;
            const message = String(msg.payload?.message ?? 'refused');
            setStatus('logs', '', message);
            if (/^Authentication/.test(message)) authProblem('logs', message);
            socket.close(1000);
            break;
          }
          case 'logs':
            if (Array.isArray(msg.payload)) {
              // a history answer carries no offset: oldest first, so the newest ends on top
              const history = msg.offset === undefined;
              for (const entry of msg.payload) render(entry, history);
            }
            break;
          case 'cleared':
            clearView();
            break;
          case 'metrics': {
            const m = msg.payload ?? {};
            const parts = [];
            if (num(m.activeConnections) !== undefined) parts.push(`${m.activeConnections} log clients`);
            if (num(m.messageRate) !== undefined) parts.push(`${m.messageRate.toFixed(1)} msg/s`);
            if (num(m.errorRate) !== undefined) parts.push(`${m.errorRate.toFixed(1)} err/s`);
            $('log-metrics').textContent = parts.join(' · ');
            break;
          }
          case 'error':
            setStatus('logs', 'live', `live · ${appId} · ${String(msg.message ?? 'error')}`);
            break;
          default:
            break;
        }
      };
      socket.onclose = (e) => {
        if (ws !== socket) return; // stopped or replaced
        ws = undefined;
        if (refused) return;
        const wait = retry.next();
        setStatus('logs', '', `disconnected (${e.code}), retrying in ${(wait / 1000).toFixed(1)} s`);
        timer = setTimeout(connect, wait);
      };
    }

    const api = { appId: '', start, stop };
    return api;
  })();

  $('logs-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const appId = readName('log-app');
    if (appId !== undefined) logs.start(appId);
  });
  $('logs-stop').addEventListener('click', () => {
    logs.stop();
    logs.appId = '';
    authProblem('logs');
  });

  // ---- start ------------------------------------------------------------------------------------
  analytics.start();
  connectSocket();
  const startApp = fragment.get('app');
  if (startApp && NAME.test(startApp)) {
    $('log-app').value = startApp;
    logs.start(startApp);
  }
  const startJob = fragment.get('job');
  if (startJob && NAME.test(startJob)) followJob(startJob);
})();
