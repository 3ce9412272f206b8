import type { Engine } from '@switchboard/engine';
import { parseJson } from '@switchboard/protocol';
import { API_CHANNEL_NAMES, apiChannel, type ApiChannel } from './channel-names.js';
import { ApiError, intParam, type ApiRequest } from './server-api.js';

/** The history route's answer: the channel's position, and frames after `since` in offset order. */
export interface HistoryAnswer {
  epoch: string;
  offset: number;
  /** False when the frames after `since` cannot all be had (another epoch, or too old): start afresh from `offset`. */
  recovered: boolean;
  frames: unknown[];
}

/** The API channel named in the path, or a 404. */
export function channelOf(request: ApiRequest): ApiChannel {
  const name = request.params['name'] ?? '';
  const channel = apiChannel(name);
  if (channel === undefined) throw new ApiError(404, `no such channel: ${JSON.stringify(name.slice(0, 200))} (channels: ${API_CHANNEL_NAMES})`);
  return channel;
}

const frameValue = (frame: string): unknown => {
  const json = parseJson(frame);
  return json.ok ? json.value : frame;
};

/**
 * `GET /channels/{name}/history?epoch=&since=&limit=`. With `epoch` and `since` (the last offset
 * the caller processed): the frames after it, oldest first, at most `limit` (ask again from the
 * last one's offset for more), or `recovered: false` and no frames, as a resuming client gets.
 * Without them: the latest `limit` frames the history holds.
 */
export async function channelHistory(engine: Engine, historySize: number, request: ApiRequest): Promise<HistoryAnswer> {
  const channel = channelOf(request);
  const { query } = request;
  const limit = intParam(query, 'limit', 100, 1, historySize);
  const epoch = query.get('epoch');
  const hasSince = query.get('since') !== null;
  if ((epoch === null) !== !hasSince) throw new ApiError(400, 'epoch and since: give both (resume from a position) or neither (the latest frames)');
  let since: number;
  let fromEpoch: string;
  if (epoch !== null) {
    since = intParam(query, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
    fromEpoch = epoch;
  } else {
    const position = await engine.position(channel.channel);
    // Every frame the history may hold; the latest `limit` of them are kept below.
    since = Math.max(0, position.offset - historySize);
    fromEpoch = position.epoch;
  }
  const result = await engine.history(channel.channel, { epoch: fromEpoch, since });
  if (!result.recovered) return { epoch: result.epoch, offset: result.offset, recovered: false, frames: [] };
  const kept = result.messages.map((m) => frameValue(m.frame)).filter((frame) => channel.keeps?.(frame) ?? true);
  const frames = epoch !== null ? kept.slice(0, limit) : kept.slice(-limit);
  return { epoch: result.epoch, offset: result.offset, recovered: true, frames };
}
