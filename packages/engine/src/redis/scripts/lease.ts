import type { Result } from 'ioredis';
import type { Client } from '../connections.js';

/** Acquire or extend a lease. Returns 1 when held. */
export const LEASE_ACQUIRE_SCRIPT = `
local lease = KEYS[1]
local holder, ttl_ms = ARGV[1], ARGV[2]

local current = redis.call('GET', lease)
if current == holder then
  redis.call('PEXPIRE', lease, ttl_ms)
  return 1
end
if current then return 0 end
redis.call('SET', lease, holder, 'PX', ttl_ms)
return 1
`;

/** Release a lease only if still held by this holder. */
export const LEASE_RELEASE_SCRIPT = `
local lease = KEYS[1]
local holder = ARGV[1]

if redis.call('GET', lease) == holder then return redis.call('DEL', lease) end
return 0
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbLeaseAcquire(key: string, holder: string, ttlMs: number): Result<number, Context>;
    sbLeaseRelease(key: string, holder: string): Result<number, Context>;
  }
}

export function defineLeaseScripts(client: Client): void {
  client.defineCommand('sbLeaseAcquire', { numberOfKeys: 1, lua: LEASE_ACQUIRE_SCRIPT });
  client.defineCommand('sbLeaseRelease', { numberOfKeys: 1, lua: LEASE_RELEASE_SCRIPT });
}

export const runLeaseAcquire = async (client: Client, key: string, holder: string, ttlMs: number): Promise<boolean> =>
  (await client.sbLeaseAcquire(key, holder, ttlMs)) === 1;

export const runLeaseRelease = async (client: Client, key: string, holder: string): Promise<void> => {
  await client.sbLeaseRelease(key, holder);
};
