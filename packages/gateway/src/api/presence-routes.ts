import type { Engine } from '@switchboard/engine';
import { apiNameOf } from '../presence/channels.js';
import { channelOf } from './history.js';
import { channelParam, errors, json, limitParam } from './openapi-parts.js';
import { ApiError, intParam, type ApiRoute } from './server-api.js';

/** The presence routes: channels with their occupancy, and a channel's members, paged. */
export function presenceRoutes(engine: Engine): ApiRoute[] {
  return [
    {
      method: 'get',
      path: '/channels',
      doc: {
        summary: 'Channels with connected clients, and their occupancy',
        responses: { 200: json('The occupied channels', { $ref: '#/components/schemas/Channels' }), ...errors() },
      },
      handle: async () => {
        const occupied = await engine.presence.channels();
        const channels = occupied
          .flatMap(({ channel, connections, users }) => {
            const name = apiNameOf(channel);
            return name === undefined ? [] : [{ name, connections, users }];
          })
          .sort((a, b) => b.connections - a.connections || a.name.localeCompare(b.name));
        return { status: 200, body: { channels } };
      },
    },
    {
      method: 'get',
      path: '/channels/{name}/presence',
      doc: {
        summary: "A channel's connected clients, paged by clientId",
        parameters: [
          channelParam,
          limitParam(100, 1000),
          { name: 'cursor', in: 'query', description: 'The `next` of the previous page.', schema: { type: 'string' } },
        ],
        responses: { 200: json('A page of members', { $ref: '#/components/schemas/PresencePage' }), ...errors(400, 404) },
      },
      handle: async (request) => {
        const channel = channelOf(request);
        const limit = intParam(request.query, 'limit', 100, 1, 1000);
        const cursor = request.query.get('cursor');
        if (cursor !== null && (cursor === '' || cursor.length > 200)) throw new ApiError(400, 'cursor: expected the next of a previous page');
        const [page, occupancy] = await Promise.all([
          engine.presence.members(channel.presence, limit, cursor ?? undefined),
          engine.presence.occupancy([channel.presence]),
        ]);
        return { status: 200, body: { ...page, occupancy: occupancy[0] } };
      },
    },
  ];
}
