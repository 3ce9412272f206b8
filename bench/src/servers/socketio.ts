/**
 * Baseline: the original single-node error monitor on plain Socket.IO (node:http server) —
 * `POST /report` (one report per line) → `error:new` to everyone, `error:service` to room
 * `service:<name>`, `error:level` to room `level:<level>`; clients `subscribe:service` with an
 * acknowledgement. With REDIS_URL set it is one node of "the plain cluster a team would build":
 * the same server with @socket.io/redis-adapter on a shared Redis. With RECOVERY_MS set, Socket.IO's
 * connection state recovery is on (in memory, one node): a client back within that window gets
 * the packets it missed.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { readBody } from './http-body.js';

interface Report {
  service: string;
  error?: { message?: string; stack?: string };
  level: string;
  path?: string;
  method?: string;
  metadata?: Record<string, unknown>;
}

const port = Number(process.env['PORT'] ?? 9003);
const redisUrl = process.env['REDIS_URL'];
const recoveryMs = Number(process.env['RECOVERY_MS'] ?? 0);

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/report') {
    void readBody(req).then((body) => {
      const lines = body.split('\n').filter(Boolean);
      for (const line of lines) {
        const report = JSON.parse(line) as Report;
        const record = {
          id: randomUUID(),
          service: report.service,
          message: report.error?.message ?? null,
          stack: report.error?.stack ?? null,
          path: report.path ?? null,
          method: report.method ?? null,
          level: report.level,
          metadata: report.metadata ?? null,
          createdAt: new Date().toISOString(),
        };
        io.emit('error:new', record);
        io.to(`service:${record.service}`).emit('error:service', record);
        io.to(`level:${record.level}`).emit('error:level', record);
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end(`{"accepted":${lines.length}}`);
    });
    return;
  }
  if (req.url === '/health') return void res.end(JSON.stringify({ status: 'ok', clients: io.engine.clientsCount }));
  // Socket.IO answers its own path; everything else is a 404.
  if (!req.url?.startsWith('/socket.io/')) res.writeHead(404).end();
});

const io = new Server(server, {
  cors: { origin: true },
  ...(recoveryMs > 0 ? { connectionStateRecovery: { maxDisconnectionDuration: recoveryMs, skipMiddlewares: true } } : {}),
});
if (redisUrl !== undefined) {
  const pub = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub));
}

type Ack = ((answer: { ok: boolean; error?: string }) => void) | undefined;
io.on('connection', (socket) => {
  const room = (prefix: string, join: boolean) => (name: unknown, ack: Ack) => {
    if (typeof name !== 'string' || name.length === 0) return ack?.({ ok: false, error: 'expected a name' });
    void (join ? socket.join(`${prefix}:${name}`) : socket.leave(`${prefix}:${name}`));
    ack?.({ ok: true });
  };
  socket.on('subscribe:service', room('service', true));
  socket.on('unsubscribe:service', room('service', false));
  socket.on('subscribe:level', room('level', true));
  socket.on('unsubscribe:level', room('level', false));
});

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
