import type { Result } from 'ioredis';
import type { Client } from '../connections.js';
import type { RawEntry } from '../stream-entries.js';

/**
 * takeOver: moves a dead consumer's pending entries to a live one, unless it announced itself
 * alive meanwhile, and forgets the consumer once nothing is left pending for it. One script per
 * dead consumer, so two live workers never take the same entries.
 * Returns {claimed entries (XCLAIM reply), their delivery counts before the claim, by id (flat)}.
 */
export const TAKE_OVER_SCRIPT = `
local stream, dead_alive_key = KEYS[1], KEYS[2]
local group, dead, taker, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

if redis.call('EXISTS', dead_alive_key) == 1 then return {{}, {}} end
local pending = redis.call('XPENDING', stream, group, '-', '+', limit, dead)
local ids, deliveries = {}, {}
for n, p in ipairs(pending) do
  ids[n] = p[1]
  deliveries[#deliveries + 1] = p[1]
  deliveries[#deliveries + 1] = p[4]
end
local claimed = {}
if #ids > 0 then claimed = redis.call('XCLAIM', stream, group, taker, 0, unpack(ids)) end
if #pending < limit then redis.call('XGROUP', 'DELCONSUMER', stream, group, dead) end
return {claimed, deliveries}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbTakeOver(
      stream: string, alive: string, group: string, dead: string, taker: string, count: number,
    ): Result<[RawEntry[], (string | number)[]], Context>;
  }
}

export function defineTakeOverScript(client: Client): void {
  client.defineCommand('sbTakeOver', { numberOfKeys: 2, lua: TAKE_OVER_SCRIPT });
}

export interface TakeOverInput {
  stream: string;
  /** The dead consumer's alive key. */
  alive: string;
  group: string;
  dead: string;
  taker: string;
  /** At most this many entries. */
  count: number;
}

/** The entries claimed, and each one's delivery count before the claim (by id). */
export async function runTakeOver(client: Client, input: TakeOverInput): Promise<{ claimed: RawEntry[]; deliveries: Map<string, number> }> {
  const { stream, alive, group, dead, taker, count } = input;
  const [claimed, flat] = await client.sbTakeOver(stream, alive, group, dead, taker, count);
  const deliveries = new Map<string, number>();
  for (let i = 0; i + 1 < flat.length; i += 2) deliveries.set(String(flat[i]), Number(flat[i + 1]));
  return { claimed, deliveries };
}
