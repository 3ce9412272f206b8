/**
 * Baseline for ingest: the same `POST /events` → `XADD` → `202 {"id":...}` written as Fastify's
 * documentation shows — a route with a JSON schema for the body (validated by Fastify's
 * compiled validator), an async handler, `reply.code(202)`, the logger off as for a benchmark.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const port = Number(process.env['PORT'] ?? 9012);
const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
const STREAM = 'bench:ingest:fastify';

interface AnalyticsEvent {
  type: string;
  visitor_id: string;
  data?: Record<string, unknown>;
  timestamp?: string;
}

const fastify = Fastify({ logger: false });

fastify.post<{ Body: AnalyticsEvent }>(
  '/events',
  {
    schema: {
      body: {
        type: 'object',
        required: ['type', 'visitor_id'],
        properties: {
          type: { type: 'string', minLength: 1 },
          visitor_id: { type: 'string', minLength: 1 },
          data: { type: 'object' },
          timestamp: { type: 'string' },
        },
      },
    },
  },
  async (request, reply) => {
    const id = randomUUID();
    await redis.xadd(STREAM, '*', 'kind', 'analytics', 'id', id, 'at', String(Date.now()), 'body', JSON.stringify(request.body));
    reply.code(202);
    return { id };
  },
);

fastify.get('/health', async () => ({ status: 'ok' }));

await fastify.listen({ port, host: '127.0.0.1' });
process.on('SIGTERM', () => {
  void fastify.close().then(() => process.exit(0));
});
