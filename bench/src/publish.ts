import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { RedisEngine } from '@switchboard/engine';
import { CHANNELS, analyticsEventFrame, newEventId, withOffset } from '@switchboard/protocol';
import { pino } from 'pino';

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
    close: async () => undefined,
  };
}

/** One request per message, as real producers do (Switchboard's ingest), targets in turn. */
export function perMessageHttp(urls: string[], body: (m: Message) => string): Publisher {
  let next = 0;
  return {
    send: async (batch) => {
      await Promise.all(batch.map((m) => post(urls[next++ % urls.length]!, body(m))));
    },
    close: async () => undefined,
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
    close: async () => undefined,
  };
}

/**
 * Straight into the analytics channel, as a worker commits frames: one atomic step per batch
 * assigns the offsets, appends each frame to the channel's history and publishes it (the
 * engine's commit, without the ingest stream and the worker's statistics). Isolates the
 * gateways' fan-out, with the history writes on the path.
 */
export function redisChannel(url: string): Publisher {
  const engine = new RedisEngine({ url, logger: pino({ level: 'silent' }) });
  return {
    send: async (batch) => {
      const frames = batch.map((m) =>
        analyticsEventFrame({ type: 'page_view', id: newEventId(), visitor_id: 'bench-visitor', timestamp: new Date(m.t).toISOString(), data: payload(m) }),
      );
      await engine.commit({ guard: { kind: 'none' }, ops: [], publish: frames.map((frame) => ({ channel: CHANNELS.analytics, frame })) });
    },
    close: () => engine.close(),
  };
}
