/**
 * Baseline for ingest: a bare uWebSockets.js server doing what the gateway's `POST /events`
 * does at its core — read the JSON body, check `type` and `visitor_id`, give the event an id,
 * `XADD` it to a Redis stream and answer `202 {"id":...}` once Redis has it. No auth, CORS,
 * schema library or metrics: the ceiling the gateway's ingest is held against.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import uWS from 'uWebSockets.js';

const port = Number(process.env['PORT'] ?? 9011);
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const STREAM = 'bench:ingest:uws';
const app = uWS.App();

const answer = (res: uWS.HttpResponse, status: string, body: string) =>
  res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(body));

app.post('/events', (res) => {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const chunks: Buffer[] = [];
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    let event: { type?: unknown; visitor_id?: unknown };
    try {
      event = JSON.parse(Buffer.concat(chunks).toString()) as typeof event;
    } catch {
      return answer(res, '400 Bad Request', '{"error":"body: invalid JSON"}');
    }
    if (typeof event.type !== 'string' || typeof event.visitor_id !== 'string') return answer(res, '400 Bad Request', '{"error":"type, visitor_id: strings"}');
    const id = randomUUID();
    redis.xadd(STREAM, '*', 'kind', 'analytics', 'id', id, 'at', String(Date.now()), 'body', JSON.stringify(event)).then(
      () => !aborted && answer(res, '202 Accepted', `{"id":"${id}"}`),
      () => !aborted && answer(res, '503 Service Unavailable', '{"error":"not queued"}'),
    );
  });
});

app.get('/health', (res) => void res.end('{"status":"ok"}'));

app.listen('127.0.0.1', port, (token) => {
  if (!token) {
    process.stderr.write(`uws-ingest: cannot listen on ${port}\n`);
    process.exit(1);
  }
});
process.on('SIGTERM', () => process.exit(0));
