import { randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { analyticsEventFrame, newEventId, withOffset } from '@switchboard/protocol';
import type { FromCommitter, ToCommitter } from './committer.js';

const COMMITTER = fileURLToPath(new URL('./committer.js', import.meta.url));

/** One benchmark message: a sequence number, its high-resolution send time, padding to size. */
export interface Message {
  seq: number;
  t: number;
  pad: string;
  /** Target room (rooms runs), e.g. `svc-3`. */
  service: string;
}

export interface Publisher {
  /** Hands the messages to the system; resolves once it accepted them. */
  send(batch: Message[]): Promise<void>;
  /** Resolves once the publisher can send at once (one started in a process of its own). */
  ready?(): Promise<void>;
  close(): Promise<void>;
}

/** Bytes of the `{t, seq, pad}` object besides the padding. */
const PAYLOAD_OVERHEAD = JSON.stringify({ t: 1_700_000_000_000.123, seq: 100_000, pad: '' }).length;
export const padFor = (payloadBytes: number): string => 'x'.repeat(Math.max(0, payloadBytes - PAYLOAD_OVERHEAD));

export const payload = (m: Message) => ({ t: m.t, seq: m.seq, pad: m.pad });

/** The frame the raw baselines send: the analytics event shape, without Switchboard's id/offset. */
export const rawFrame = (m: Message): string =>
  `{"type":"page_view","visitor_id":"bench-visitor","timestamp":"${new Date(m.t).toISOString()}","data":${JSON.stringify(payload(m))}}`;

/** The body of `POST /events`. */
export const eventBody = (m: Message): string => JSON.stringify({ type: 'page_view', visitor_id: 'bench-visitor', data: payload(m) });

/** The body of `POST /report` (the error collector's). */
export const reportBody = (m: Message): string =>
  JSON.stringify({ service: m.service, error: { message: 'bench error' }, level: 'error', metadata: payload(m) });

/** The frame a Switchboard worker publishes for an analytics event (what gateways fan out). */
export const switchboardFrame = (m: Message, offset: number): string =>
  withOffset(
    analyticsEventFrame({ type: 'page_view', id: newEventId(), visitor_id: 'bench-visitor', timestamp: new Date(m.t).toISOString(), data: payload(m) }),
    offset,
  );

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export function post(url: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      res.resume();
      res.once('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(status);
        else reject(new Error(`POST ${url} answered ${status}`));
      });
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** Many messages per request, one per line (the baselines' `/publish` and `/report`), targets in turn. */
export function batchHttp(urls: string[], line: (m: Message) => string): Publisher {
  let next = 0;
  return {
    send: async (batch) => {
      await post(urls[next++ % urls.length]!, batch.map(line).join('\n'));
    },
    close: () => Promise.resolve(),
  };
}

/** One request per message, as real producers do (Switchboard's ingest), targets in turn. */
export function perMessageHttp(urls: string[], body: (m: Message) => string): Publisher {
  let next = 0;
  return {
    send: async (batch) => {
      await Promise.all(batch.map((m) => post(urls[next++ % urls.length]!, body(m))));
    },
    close: () => Promise.resolve(),
  };
}

/**
 * One request per message to the first target that accepts it, starting with the next in turn:
 * a producer behind a load balancer, whose request goes to another gateway while one restarts.
 */
export function failoverHttp(urls: string[], body: (m: Message) => string): Publisher {
  let next = 0;
  // A retried request whose first attempt was stored after all must not become a second event.
  const run = randomUUID();
  const sendOne = async (m: Message) => {
    const first = next++;
    let lastError: unknown;
    for (let i = 0; i < urls.length * 2; i++) {
      try {
        await post(urls[(first + i) % urls.length]!, body(m), { 'idempotency-key': `${run}-${m.seq}` });
        return;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  };
  return {
    send: async (batch) => {
      await Promise.all(batch.map(sendOne));
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Straight into the analytics channel, as a worker commits frames: one atomic step per batch
 * assigns the offsets, appends each frame to the channel's history and publishes it (the
 * engine's commit, without the ingest stream and the worker's statistics). Isolates the
 * gateways' fan-out, with the history writes on the path. The commits run in a process of
 * their own (committer.ts), several batches in flight; a batch is accepted once it is on its way.
 */
export function redisChannel(url: string): Publisher {
  const child = fork(COMMITTER, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, REDIS_URL: url } });
  const accepted = new Map<number, () => void>();
  let nextId = 0;
  /** Commits that failed, not yet reported: each rejects one later send (the run counts those). */
  let failed = 0;
  let closed: (() => void) | undefined;
  let started: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (started = resolve));
  child.on('message', (message: FromCommitter) => {
    if (message.op === 'ready') started();
    else if (message.op === 'accepted') {
      accepted.get(message.id)?.();
      accepted.delete(message.id);
    } else if (message.op === 'failed') failed += 1;
    else closed?.();
  });
  return {
    ready: () => ready,
    send: (batch) =>
      new Promise<void>((resolve, reject) => {
        const id = nextId++;
        accepted.set(id, () => {
          if (failed === 0) return resolve();
          failed -= 1;
          reject(new Error('a commit failed'));
        });
        child.send({ op: 'send', id, batch } satisfies ToCommitter);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        closed = resolve;
        child.send({ op: 'close' } satisfies ToCommitter);
      }),
  };
}
