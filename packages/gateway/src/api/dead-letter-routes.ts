import { isDeadLetterId, requeueDeadLetter, type Engine } from '@switchboard/engine';
import { ApiError, intParam, type ApiRequest, type ApiRoute } from './server-api.js';
import { errors, idParam, json, limitParam } from './openapi-parts.js';

const deadLetterId = (request: ApiRequest): string => {
  const id = request.params['id'] ?? '';
  if (!isDeadLetterId(id)) throw new ApiError(404, `no such dead letter: ${JSON.stringify(id.slice(0, 60))}`);
  return id;
};

const missing = (id: string): ApiError => new ApiError(404, `no such dead letter: ${id}`);

/**
 * The dead-letter routes: list (newest first), inspect, requeue (applied once: the append is
 * keyed by the dead-letter id), delete. `requeueTtlS`: how long a requeue's key is remembered.
 */
export function deadLetterRoutes(engine: Engine, requeueTtlS: number): ApiRoute[] {
  const store = engine.deadLetters;
  return [
    {
      method: 'get',
      path: '/dead-letters',
      doc: {
        summary: 'List dead letters, newest first',
        parameters: [limitParam(100, 1000), { name: 'cursor', in: 'query', description: 'The `next` of the previous page.', schema: { type: 'string' } }],
        responses: { 200: json('A page of dead letters', { $ref: '#/components/schemas/DeadLetterPage' }), ...errors(400) },
      },
      handle: async ({ query }) => {
        const limit = intParam(query, 'limit', 100, 1, 1000);
        const cursor = query.get('cursor');
        if (cursor !== null && !isDeadLetterId(cursor)) throw new ApiError(400, 'cursor: expected the next of a previous page');
        return { status: 200, body: await store.list(limit, cursor ?? undefined) };
      },
    },
    {
      method: 'get',
      path: '/dead-letters/{id}',
      doc: {
        summary: 'Inspect one dead letter',
        parameters: [idParam],
        responses: { 200: json('The dead letter', { $ref: '#/components/schemas/DeadLetter' }), ...errors(404) },
      },
      handle: async (request) => {
        const id = deadLetterId(request);
        const letter = await store.get(id);
        if (letter === undefined) throw missing(id);
        return { status: 200, body: letter };
      },
    },
    {
      method: 'post',
      path: '/dead-letters/{id}/requeue',
      doc: {
        summary: 'Put a dead letter back on the ingest stream (once) and remove it',
        parameters: [idParam],
        responses: { 200: json('Requeued', { $ref: '#/components/schemas/Requeued' }), ...errors(404) },
      },
      handle: async (request) => {
        const id = deadLetterId(request);
        const result = await requeueDeadLetter(engine, id, requeueTtlS);
        if (!result.requeued) throw missing(id);
        return { status: 200, body: { requeued: true, id, streamId: result.streamId ?? null } };
      },
    },
    {
      method: 'delete',
      path: '/dead-letters/{id}',
      doc: {
        summary: 'Delete a dead letter',
        parameters: [idParam],
        responses: { 200: json('Deleted', { $ref: '#/components/schemas/Deleted' }), ...errors(404) },
      },
      handle: async (request) => {
        const id = deadLetterId(request);
        if (!(await store.remove(id))) throw missing(id);
        return { status: 200, body: { deleted: true, id } };
      },
    },
  ];
}
