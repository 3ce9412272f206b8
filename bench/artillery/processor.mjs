// Artillery processor functions for the Switchboard scenarios. The HTTP ingest goes to the
// same gateway the virtual user is connected to (or SWITCHBOARD_URL).
import { randomUUID } from 'node:crypto';

const TIMEOUT_MS = Number(process.env.SWITCHBOARD_TIMEOUT_MS ?? 10_000);

/** http(s)://host:port of a ws:// target or an http:// target. */
const httpBase = (target) => process.env.SWITCHBOARD_URL ?? new URL(target).origin.replace(/^ws/, 'http');

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 202) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
}

/** Resolves with the first value `pick` returns for an incoming item, or rejects after the timeout. */
function waitFor(subscribe, pick, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what}`));
    }, TIMEOUT_MS);
    const unsubscribe = subscribe((item) => {
      const value = pick(item);
      if (value === undefined) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(value);
    });
  });
}

/** ws engine: the whole /ws/analytics exchange on the virtual user's connection. */
export function analyticsSession(context, events, done) {
  const { ws } = context;
  const frames = (handler) => {
    const listener = (data) => {
      try {
        handler(JSON.parse(data.toString()));
      } catch {
        handler({ type: 'invalid-json' });
      }
    };
    ws.on('message', listener);
    return () => ws.off('message', listener);
  };
  const exchange = (message, type) => {
    const answered = waitFor(frames, (f) => (f.type === type ? f : undefined), type);
    ws.send(JSON.stringify(message));
    return answered;
  };
  const run = async () => {
    const stats = await exchange({ type: 'refresh_stats' }, 'initial_stats');
    if (typeof stats.data?.total_events !== 'number') throw new Error('initial_stats without figures');
    await exchange({ type: 'ping' }, 'pong');
    const subscribed = await exchange({ type: 'subscribe', events: ['artillery_probe'] }, 'subscribed');
    if (subscribed.events?.[0] !== 'artillery_probe') throw new Error(`unexpected subscribed frame ${JSON.stringify(subscribed)}`);
    const marker = randomUUID();
    const delivered = waitFor(frames, (f) => (f.type === 'artillery_probe' && f.data?.marker === marker ? f : undefined), 'own event');
    const sentAt = Date.now();
    await post(httpBase(context.vars.target ?? ws.url), '/events', { type: 'artillery_probe', visitor_id: `artillery-${marker}`, data: { marker, sent_at: sentAt } });
    await delivered;
    events.emit('histogram', 'switchboard.delivery_ms', Date.now() - sentAt);
    events.emit('counter', 'switchboard.events_received', 1);
  };
  run().then(
    () => done(),
    (err) => {
      events.emit('counter', `switchboard.errors.${err.message.split(':')[0]}`, 1);
      done(err);
    },
  );
}

/** socketio engine: posts a report for the user's service and waits for its `error:service`. */
export function reportAndAwaitRoomEvent(context, events, done) {
  const socket = context.sockets[''];
  const service = context.vars.service;
  const marker = randomUUID();
  const roomEvent = (handler) => {
    socket.on('error:service', handler);
    return () => socket.off('error:service', handler);
  };
  const delivered = waitFor(roomEvent, (record) => {
    if (record.service !== service) throw new Error(`error:service for ${record.service} reached a ${service} subscriber`);
    return record.metadata?.marker === marker ? record : undefined;
  }, `error:service for ${service}`);
  const sentAt = Date.now();
  post(httpBase(context.vars.target), '/report', { service, error: { message: `artillery ${marker}` }, level: 'error', metadata: { marker } })
    .then(() => delivered)
    .then(
      () => {
        events.emit('histogram', 'switchboard.room_delivery_ms', Date.now() - sentAt);
        events.emit('counter', 'switchboard.room_events', 1);
        done();
      },
      (err) => done(err),
    );
}
