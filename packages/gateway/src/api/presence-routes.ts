import type { Engine } from '@switchboard/engine';
import { apiNameOf } from '../presence/channels.js';
import { CLOSE_DISCONNECTED, DISCONNECT_CEILING_MS, DISCONNECTED_REASON, type UserDisconnects } from '../presence/disconnect.js';
import { channelOf } from './history.js';
import { channelParam, errors, json, limitParam } from './openapi-parts.js';
import { ApiError, intParam, type ApiRoute } from './server-api.js';

/** The presence routes: channels with their occupancy, a channel's members (paged), disconnecting a user. */
export function presenceRoutes(engine: Engine, users: UserDisconnects): ApiRoute[] {
  return [
    {
      method: 'post',
      path: '/users/{userId}/disconnect',
      doc: {
        summary: "Close every connection of a user, on every gateway",
        description:
          `Raw WebSocket connections are closed with ${CLOSE_DISCONNECTED} "${DISCONNECTED_REASON}"; Socket.IO ones are disconnected by the server. ` +
          'Answers once every live gateway answered how many it closed, or after ' +
          `${DISCONNECT_CEILING_MS} ms with the answers received and the live gateways that did not answer (\`gateways.missing\`).`,
        parameters: [{ name: 'userId', in: 'path', required: true, description: "The user (a JWT's sub).", schema: { type: 'string' } }],
        responses: { 200: json('How many connections were closed', { $ref: '#/components/schemas/Disconnected' }), ...errors(400) },
      },
      handle: async ({ params }) => {
        const userId = params['userId'] ?? '';
        if (userId === '' || userId.length > 256) throw new ApiError(400, 'userId: expected 1 to 256 characters');
        return { status: 200, body: await users.disconnect(userId) };
      },
    },
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
        // The stored members' JSON goes out as it is (JsonText): no parse, no re-serialization.
        return { status: 200, body: { members: page.list, next: page.next, occupancy: occupancy[0] } };
      },
    },
  ];
}
