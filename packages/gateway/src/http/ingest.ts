import type { HttpRequest } from 'uWebSockets.js';
import type { z } from 'zod';
import {
  envelopeFields,
  ingestRoute,
  newEventId,
  parseJson,
  plainDocumentText,
  validate,
  type IngestKind,
  type Validated,
} from '@switchboard/protocol';
import { producerId } from '../auth/ingest-keys.js';
import type { GatewayContext } from '../context.js';
import { tally } from '../metrics.js';
import { BodyTooLargeError, readBody } from './body.js';
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
  /**
   * A hand-checked fast path for the common body: exactly what `schema` makes of `input` when it
   * certainly accepts it, else undefined (the schema then decides and words any error).
   */
  accept?: (input: unknown) => T | undefined;
}

/** An event ready for the ingest stream: its fields, the channel it feeds, the 202 answer. */
interface PreparedEvent {
  fields: Record<string, string>;
  channel: string;
  answer: string;
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
  // One tally per outcome, looked up once: counting is on every request.
  const outcomes = ['accepted', 'replayed', 'invalid', 'unauthorized', 'too_large', 'unavailable'] as const;
  const counts = Object.fromEntries(outcomes.map((outcome) => [outcome, tally(metrics.ingest, { kind: route.kind, outcome })])) as Record<
    (typeof outcomes)[number],
    () => void
  >;
  const observeSeconds = metrics.ingestSeconds.bind({ kind: route.kind });
  const observeDuration = (started: number) => observeSeconds((performance.now() - started) / 1000);

  /** The validated event as stored and answered, or the 400 error. */
  const prepareEvent = (text: string, pathFields: Record<string, string> | undefined): Validated<PreparedEvent> => {
    const json = parseJson(text);
    if (!json.ok) return { ok: false, error: `body: ${json.error}` };
    const input = pathFields !== undefined && isPlainObject(json.value) ? { ...json.value, ...pathFields } : json.value;
    // The fast path vouches for the body's text, so not for fields merged from the path.
    const fast = route.accept !== undefined && pathFields === undefined && plainDocumentText(text) ? route.accept(input) : undefined;
    const body = fast !== undefined ? { ok: true as const, value: fast } : validate(route.schema, input);
    if (!body.ok) return body;
    const id = newEventId();
    const prepared = route.prepare?.(body.value, id);
    const stored = prepared === undefined ? body.value : prepared.body;
    return {
      ok: true,
      value: {
        fields: envelopeFields({ kind: route.kind, id, at: Date.now(), body: JSON.stringify(stored) }),
        // On a Redis Cluster, the entry goes to the ingest partition of the channel it feeds.
        channel: ingestRoute(route.kind, () => stored),
        answer: prepared === undefined ? `{"id":${JSON.stringify(id)}}` : JSON.stringify(prepared.answer),
      },
    };
  };

  app.post(route.path, (res, req) => {
    const reply = new Reply(res, false, req);
    // Everything needed from `req` is read now: it is gone once this handler returns.
    const origin = req.getHeader('origin');
    const contentType = req.getHeader('content-type');
    const lengthHeader = req.getHeader('content-length');
    const authorization = req.getHeader('authorization');
    const apiKey = req.getHeader('x-api-key');
    const credential = ingestKeys.check(authorization, apiKey);
    const idempotency = parseIdempotencyKey(req.getHeader('idempotency-key'));
    const pathFields = route.fromPath?.(req);
    if (origin !== '') reply.headers.push(...origins.corsHeaders(origin));

    // Refusals before the body is read close the connection: the unread body must not be
    // mistaken for the next request.
    if (ctx.isDraining()) {
      counts.unavailable();
      return reply.json(503, { error: 'node is shutting down; retry on another node' }, true);
    }
    if (credential !== 'ok') {
      counts.unauthorized();
      return credential === 'missing'
        ? reply.json(401, { error: 'producer credential required (Authorization: Bearer <key> or X-API-Key)' }, true)
        : reply.json(403, { error: 'producer credential not accepted' }, true);
    }
    if (!idempotency.ok) {
      counts.invalid();
      return reply.json(400, { error: idempotency.error }, true);
    }
    if (contentType !== '' && !ACCEPTED_TYPES.test(contentType)) {
      counts.invalid();
      return reply.json(415, { error: 'content-type: expected application/json' }, true);
    }
    const declared = lengthHeader === '' ? undefined : Number(lengthHeader);
    const started = performance.now();
    ctx.inflight.begin();

    const unavailable = (err: unknown): void => {
      counts.unavailable();
      logger.warn({ err, path: route.path }, 'ingest failed: event not queued');
      reply.json(503, { error: 'ingest unavailable: the event was not queued, retry' });
      ctx.inflight.end();
    };
    const accepted = (answer: string): void => {
      counts.accepted();
      observeDuration(started);
      reply.send(202, answer);
      ctx.inflight.end();
    };
    const replayed = (stored: string): void => {
      counts.replayed();
      observeDuration(started);
      reply.headers.push(['idempotent-replayed', 'true']);
      if (reply.headers.some(([name]) => name === 'access-control-allow-origin')) {
        reply.headers.push(['access-control-expose-headers', 'Idempotent-Replayed']);
      }
      reply.json(202, replayedAnswer(stored));
      ctx.inflight.end();
    };

    /** Validates the body and appends the event (answering 202 once it is stored), or answers 400. */
    const store = (text: string): void => {
      const event = prepareEvent(text, pathFields);
      if (!event.ok) {
        counts.invalid();
        reply.json(400, { error: event.error });
        ctx.inflight.end();
        return;
      }
      const { fields, channel, answer } = event.value;
      if (idempotency.key === undefined) {
        engine.appendIngest(fields, channel).then(() => accepted(answer), unavailable);
        return;
      }
      const once = { key: httpDedupeKey(route.kind, producerId(authorization, apiKey), idempotency.key), ttlS: config.idempotencyTtlS, value: answer };
      engine.appendIngestOnce(fields, once, channel).then((result) => (result.duplicate ? replayed(result.value) : accepted(answer)), unavailable);
    };

    readBody(reply, Number.isFinite(declared) ? declared : undefined, config.maxBodyBytes, {
      failed: (err) => {
        if (err instanceof BodyTooLargeError) {
          counts.too_large();
          reply.json(413, { error: `body: larger than MAX_BODY_BYTES (${err.limit} bytes)` }, true);
        }
        ctx.inflight.end();
      },
      text: (text) => {
        try {
          store(text);
        } catch (err) {
          unavailable(err);
        }
      },
    });
  });

  // Wrong methods on an ingest path get a clear answer rather than a 404.
  app.any(route.path, (res, req) => {
    const reply = new Reply(res, req.getMethod() === 'head');
    reply.headers.push(['allow', 'POST']);
    reply.json(405, { error: `method not allowed: use POST ${req.getUrl()}` });
  });
}
