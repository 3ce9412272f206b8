import type { HttpRequest } from 'uWebSockets.js';
import type { z } from 'zod';
import {
  envelopeFields,
  ingestRoute,
  newEventId,
  parseJson,
  validate,
  type IngestKind,
} from '@switchboard/protocol';
import { producerId } from '../auth/ingest-keys.js';
import type { GatewayContext } from '../context.js';
import { BodyAbortedError, BodyTooLargeError, readBody } from './body.js';
import { httpDedupeKey, parseIdempotencyKey, replayedAnswer } from './idempotency.js';
import { Reply } from './respond.js';

export interface IngestRoute<T = unknown> {
  /** uWS route pattern, e.g. `/jobs/:jobId/events`. */
  path: string;
  kind: IngestKind;
  schema: z.ZodType<T>;
  /** Fields taken from the path, validated with the body (they win over body fields). */
  fromPath?: (req: HttpRequest) => Record<string, string>;
  /**
   * Turns the validated body into what is stored in the stream and the 202 answer; by default
   * the body as validated and `{id}`.
   */
  prepare?: (value: T, id: string) => { body: unknown; answer: Record<string, unknown> };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON, or text/plain for `navigator.sendBeacon`, which cannot set a JSON content type. */
const ACCEPTED_TYPES = /^(application\/json|text\/plain)\b/i;

/**
 * `POST <path>`: authenticate the producer, read and validate the body, and answer
 * `202 {id}` only once the event is stored in the ingest stream. With an `Idempotency-Key`, a
 * repeat from the same producer to the same kind of route (within IDEMPOTENCY_TTL_S) stores
 * nothing and is answered with the first answer and `Idempotent-Replayed: true`.
 */
export function registerIngestRoute<T>(ctx: GatewayContext, route: IngestRoute<T>): void {
  const { app, engine, metrics, ingestKeys, origins, config, logger } = ctx;
  const count = (outcome: string) => metrics.ingest.inc({ kind: route.kind, outcome });

  app.post(route.path, (res, req) => {
    const reply = new Reply(res, false, req);
    // Everything needed from `req` is read now: it is gone after the first await.
    const origin = req.getHeader('origin');
    const contentType = req.getHeader('content-type');
    const lengthHeader = req.getHeader('content-length');
    const [authorization, apiKey] = [req.getHeader('authorization'), req.getHeader('x-api-key')];
    const credential = ingestKeys.check(authorization, apiKey);
    const idempotency = parseIdempotencyKey(req.getHeader('idempotency-key'));
    const pathFields = route.fromPath?.(req) ?? {};
    reply.headers.push(...origins.corsHeaders(origin));

    // Refusals before the body is read close the connection: the unread body must not be
    // mistaken for the next request.
    if (ctx.isDraining()) {
      count('unavailable');
      return reply.json(503, { error: 'node is shutting down; retry on another node' }, true);
    }
    if (credential !== 'ok') {
      count('unauthorized');
      return credential === 'missing'
        ? reply.json(401, { error: 'producer credential required (Authorization: Bearer <key> or X-API-Key)' }, true)
        : reply.json(403, { error: 'producer credential not accepted' }, true);
    }
    if (!idempotency.ok) {
      count('invalid');
      return reply.json(400, { error: idempotency.error }, true);
    }
    if (contentType !== '' && !ACCEPTED_TYPES.test(contentType)) {
      count('invalid');
      return reply.json(415, { error: 'content-type: expected application/json' }, true);
    }
    const declared = lengthHeader === '' ? undefined : Number(lengthHeader);
    const stopTimer = metrics.ingestSeconds.startTimer({ kind: route.kind });
    ctx.inflight.begin();

    readBody(reply, Number.isFinite(declared) ? declared : undefined, config.maxBodyBytes)
      .then(async (raw) => {
        const json = parseJson(raw.toString('utf8'));
        if (!json.ok) {
          count('invalid');
          return reply.json(400, { error: `body: ${json.error}` });
        }
        const input = Object.keys(pathFields).length > 0 && isPlainObject(json.value) ? { ...json.value, ...pathFields } : json.value;
        const body = validate(route.schema, input);
        if (!body.ok) {
          count('invalid');
          return reply.json(400, { error: body.error });
        }
        const id = newEventId();
        const prepared = route.prepare?.(body.value, id) ?? { body: body.value, answer: { id } };
        const fields = envelopeFields({ kind: route.kind, id, at: Date.now(), body: JSON.stringify(prepared.body) });
        // On a Redis Cluster, the entry goes to the ingest partition of the channel it feeds.
        const channel = ingestRoute(route.kind, () => prepared.body);
        if (idempotency.key === undefined) {
          await engine.appendIngest(fields, channel);
        } else {
          const once = { key: httpDedupeKey(route.kind, producerId(authorization, apiKey), idempotency.key), ttlS: config.idempotencyTtlS };
          const result = await engine.appendIngestOnce(fields, { ...once, value: JSON.stringify(prepared.answer) }, channel);
          if (result.duplicate) {
            count('replayed');
            stopTimer();
            reply.headers.push(['idempotent-replayed', 'true']);
            if (reply.headers.some(([name]) => name === 'access-control-allow-origin')) {
              reply.headers.push(['access-control-expose-headers', 'Idempotent-Replayed']);
            }
            return reply.json(202, replayedAnswer(result.value));
          }
        }
        count('accepted');
        stopTimer();
        reply.json(202, prepared.answer);
      })
      .catch((err: unknown) => {
        if (err instanceof BodyTooLargeError) {
          count('too_large');
          return reply.json(413, { error: `body: larger than MAX_BODY_BYTES (${err.limit} bytes)` }, true);
        }
        if (err instanceof BodyAbortedError) return;
        count('unavailable');
        logger.warn({ err, path: route.path }, 'ingest failed: event not queued');
        reply.json(503, { error: 'ingest unavailable: the event was not queued, retry' });
      })
      .finally(() => ctx.inflight.end());
  });

  // Wrong methods on an ingest path get a clear answer rather than a 404.
  app.any(route.path, (res, req) => {
    const reply = new Reply(res, req.getMethod() === 'head');
    reply.headers.push(['allow', 'POST']);
    reply.json(405, { error: `method not allowed: use POST ${req.getUrl()}` });
  });
}
