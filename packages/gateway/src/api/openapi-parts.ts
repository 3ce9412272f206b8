/** Pieces of the server API's OpenAPI 3.1 document that the routes share. */

type Schema = Record<string, unknown>;

/** A JSON response with its schema. */
export const json = (description: string, schema: Schema): Schema => ({ description, content: { 'application/json': { schema } } });

const errorResponse = (description: string): Schema => json(description, { $ref: '#/components/schemas/Error' });

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'A bad parameter (the error names it)',
  401: 'No credential, or not the admin token nor a valid JWT',
  403: 'A valid JWT without the admin role',
  404: 'No such resource',
  503: 'Redis unavailable: retry',
};

/** The error answers of a route: 401, 403 and 503 for every one, and `extra`. */
export const errors = (...extra: number[]): Record<number, Schema> =>
  Object.fromEntries([401, 403, ...extra, 503].map((status) => [status, errorResponse(ERROR_DESCRIPTIONS[status] ?? 'Error')]));

export const limitParam = (fallback: number, max: number): Schema => ({
  name: 'limit',
  in: 'query',
  description: `At most this many items (default ${fallback}).`,
  schema: { type: 'integer', minimum: 1, maximum: max, default: fallback },
});

export const idParam: Schema = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The dead letter id (`<ms>-<seq>`).',
  schema: { type: 'string', pattern: '^\\d+-\\d+$' },
};

export const channelParam: Schema = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'analytics, availability, errors, logs:<appId> or jobs:<jobId>.',
  schema: { type: 'string' },
};

const str = { type: 'string' };
const int = { type: 'integer', minimum: 0 };

/** The document's `components`: the answers' schemas and the admin credential. */
export const COMPONENTS: Schema = {
  securitySchemes: {
    admin: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN, or a JWT whose roles include admin.' },
  },
  schemas: {
    Error: { type: 'object', required: ['error'], properties: { error: str } },
    History: {
      type: 'object',
      required: ['epoch', 'offset', 'recovered', 'frames'],
      properties: {
        epoch: str,
        offset: int,
        recovered: { type: 'boolean', description: 'False: the frames after since cannot all be had; start afresh from offset.' },
        frames: { type: 'array', items: { type: 'object', description: 'A frame as clients get it, with its offset.' } },
      },
    },
    DeadLetter: {
      type: 'object',
      required: ['id', 'reason', 'sourceId', 'fields', 'at'],
      properties: {
        id: str,
        reason: str,
        sourceId: { type: 'string', description: 'The id the entry had on the ingest stream.' },
        fields: { type: 'object', additionalProperties: str, description: 'The entry as appended (kind, body, ...).' },
        at: { type: 'integer', description: 'When it was set aside (ms since the Unix epoch).' },
      },
    },
    DeadLetterPage: {
      type: 'object',
      required: ['entries', 'next'],
      properties: { entries: { type: 'array', items: { $ref: '#/components/schemas/DeadLetter' } }, next: { type: ['string', 'null'] } },
    },
    Requeued: {
      type: 'object',
      required: ['requeued', 'id', 'streamId'],
      properties: {
        requeued: { const: true },
        id: str,
        streamId: { type: ['string', 'null'], description: 'The new ingest entry (null when a concurrent requeue appended it).' },
      },
    },
    Occupancy: {
      type: 'object',
      required: ['connections', 'users'],
      properties: { connections: int, users: { type: 'integer', minimum: 0, description: 'Distinct users: one with several connections counts once; each anonymous connection counts as one.' } },
    },
    Channels: {
      type: 'object',
      required: ['channels'],
      properties: {
        channels: {
          type: 'array',
          items: { type: 'object', required: ['name', 'connections', 'users'], properties: { name: str, connections: int, users: int } },
        },
      },
    },
    PresencePage: {
      type: 'object',
      required: ['members', 'next'],
      properties: {
        members: {
          type: 'array',
          items: {
            type: 'object',
            required: ['clientId', 'userId', 'info'],
            properties: { clientId: str, userId: { type: ['string', 'null'] }, info: { type: 'object' } },
          },
        },
        next: { type: ['string', 'null'] },
        occupancy: { $ref: '#/components/schemas/Occupancy' },
      },
    },
    Disconnected: {
      type: 'object',
      required: ['disconnected', 'gateways'],
      properties: {
        disconnected: int,
        gateways: {
          type: 'object',
          description: 'Which gateways answered: the live ones when the request went out (`expected`), those that answered, and the live ones that did not in time.',
          required: ['expected', 'answered', 'missing'],
          properties: { expected: int, answered: int, missing: { type: 'array', items: { type: 'string' } } },
        },
      },
    },
    Deleted: { type: 'object', required: ['deleted', 'id'], properties: { deleted: { const: true }, id: str } },
  },
};
