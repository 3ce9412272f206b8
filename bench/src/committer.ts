/**
 * The engine-path publisher's own process: commits the frames it is sent on the analytics
 * channel as a worker does (offsets, history and PUBLISH in one step per batch), with several
 * batches in flight on one auto-pipelined connection, so neither the commit's round trip nor the
 * harness's own event loop paces the run (a worker pipelines its commits the same way). Redis
 * runs a connection's commands in order: the offsets follow the order the batches came in.
 */
import { RedisEngine } from '@switchboard/engine';
import { CHANNELS, analyticsEventFrame, newEventId } from '@switchboard/protocol';
import { pino } from 'pino';
import { payload, type Message } from './publish.js';

/** Batches committing at once; one more waits its turn, and the harness waits for that. */
export const COMMITS_IN_FLIGHT = 4;

export type ToCommitter = { op: 'send'; id: number; batch: Message[] } | { op: 'close' };
export type FromCommitter = { op: 'ready' } | { op: 'accepted'; id: number } | { op: 'failed' } | { op: 'closed' };

const send = (message: FromCommitter) => process.send?.(message);
const engine = new RedisEngine({ url: process.env['REDIS_URL'] ?? '', logger: pino({ level: 'silent' }) });
let inFlight = 0;
/** Batches accepted while every slot was busy, with the reply each one waits for. */
const waiting: { id: number; batch: Message[] }[] = [];
let closing = false;

const frameOf = (m: Message) =>
  analyticsEventFrame({ type: 'page_view', id: newEventId(), visitor_id: 'bench-visitor', timestamp: new Date(m.t).toISOString(), data: payload(m) });

function commit(id: number, batch: Message[]): void {
  inFlight += 1;
  // Accepted as soon as it is on its way: the harness's window (messages ahead of the slowest
  // client) bounds the run, not this round trip.
  send({ op: 'accepted', id });
  engine
    .commit({ guard: { kind: 'none' }, ops: [], publish: batch.map((m) => ({ channel: CHANNELS.analytics, frame: frameOf(m) })) })
    .catch(() => send({ op: 'failed' }))
    .finally(() => {
      inFlight -= 1;
      const next = waiting.shift();
      if (next !== undefined) commit(next.id, next.batch);
      else if (closing && inFlight === 0) void finish();
    });
}

async function finish(): Promise<void> {
  await engine.close();
  send({ op: 'closed' });
  process.exit(0);
}

// Connected before the run starts, so its first messages do not wait for the connection.
void engine.position(CHANNELS.analytics).then(
  () => send({ op: 'ready' }),
  () => send({ op: 'ready' }),
);

// Gone with the harness (interrupted run), never left behind.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: ToCommitter) => {
  if (message.op === 'close') {
    closing = true;
    if (inFlight === 0 && waiting.length === 0) void finish();
    return;
  }
  if (inFlight < COMMITS_IN_FLIGHT) commit(message.id, message.batch);
  else waiting.push(message);
});
