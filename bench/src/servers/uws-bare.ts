/**
 * Baseline: a bare uWebSockets.js server. Every client of `/ws` subscribes to one topic;
 * `POST /publish` (one frame per line) publishes each line to that topic — uWS's own fan-out,
 * with no Redis, no JSON work and no per-client logic. The ceiling for the gateway's fan-out.
 */
import uWS from 'uWebSockets.js';

const TOPIC = 'all';
const port = Number(process.env['PORT'] ?? 9001);
const app = uWS.App();

app.ws('/ws', {
  compression: uWS.DISABLED,
  maxPayloadLength: 64 * 1024,
  // Same per-socket send buffer as the gateway (WS_MAX_BACKPRESSURE_BYTES default).
  maxBackpressure: 1024 * 1024,
  idleTimeout: 120,
  open: (ws) => {
    ws.subscribe(TOPIC);
  },
});

app.post('/publish', (res) => {
  const chunks: Buffer[] = [];
  res.onAborted(() => undefined);
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    const lines = Buffer.concat(chunks).toString().split('\n');
    for (const line of lines) if (line) app.publish(TOPIC, line, false);
    res.cork(() => res.writeStatus('202 Accepted').end(`{"published":${lines.length}}`));
  });
});

app.get('/health', (res) => {
  res.end(JSON.stringify({ status: 'ok', clients: app.numSubscribers(TOPIC) }));
});

app.listen('127.0.0.1', port, (token) => {
  if (!token) {
    process.stderr.write(`uws-bare: cannot listen on ${port}\n`);
    process.exit(1);
  }
});
process.on('SIGTERM', () => process.exit(0));
