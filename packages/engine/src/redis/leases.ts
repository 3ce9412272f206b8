import { leaseKey } from '@switchboard/protocol';
import type { Leases } from '../engine.js';
import type { Client } from './connections.js';
import { runLeaseAcquire, runLeaseRelease } from './scripts/lease.js';

/** Leases on Redis: one key per lease, holding its holder, with a TTL. */
export class RedisLeases implements Leases {
  constructor(private readonly main: Client) {}

  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return runLeaseAcquire(this.main, leaseKey(name), holder, ttlMs);
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return runLeaseRelease(this.main, leaseKey(name), holder);
  }
}
