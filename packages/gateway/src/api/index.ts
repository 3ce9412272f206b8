import type { GatewayContext } from '../context.js';
import type { UserDisconnects } from '../presence/disconnect.js';
import { deadLetterRoutes } from './dead-letter-routes.js';
import { channelHistory } from './history.js';
import { presenceRoutes } from './presence-routes.js';
import { OPENAPI_PATH, openApiDocument } from './openapi.js';
import { channelParam, errors, json, limitParam } from './openapi-parts.js';
import { mountServerApi, type ApiRoute } from './server-api.js';

/** The server API's version (the OpenAPI document's `info.version`). */
const API_VERSION = '1.0.0';

/** The routes of the server API on this gateway. */
export function serverApiRoutes(ctx: GatewayContext, users: UserDisconnects): ApiRoute[] {
  const { engine, config } = ctx;
  return [
    {
      method: 'get',
      path: '/channels/{name}/history',
      doc: {
        summary: "A channel's frames since an offset (with its epoch), or its latest frames",
        parameters: [
          channelParam,
          { name: 'epoch', in: 'query', description: 'The epoch `since` belongs to (give both or neither).', schema: { type: 'string' } },
          { name: 'since', in: 'query', description: 'The offset of the last frame already processed.', schema: { type: 'integer', minimum: 0 } },
          limitParam(100, config.historySize),
        ],
        responses: { 200: json('The position and the frames', { $ref: '#/components/schemas/History' }), ...errors(400, 404) },
      },
      handle: async (request) => ({ status: 200, body: await channelHistory(engine, config.historySize, request) }),
    },
    ...presenceRoutes(engine, users),
    ...deadLetterRoutes(engine, config.idempotencyTtlS),
  ];
}

/** Mounts the server API under `/api/v1` (admin only), its OpenAPI document included. */
export function registerServerApi(ctx: GatewayContext, users: UserDisconnects): void {
  const routes = serverApiRoutes(ctx, users);
  const document = openApiDocument(routes, API_VERSION);
  mountServerApi(ctx, [...routes, { method: 'get', path: OPENAPI_PATH, doc: {}, handle: () => ({ status: 200, body: document }) }]);
}
