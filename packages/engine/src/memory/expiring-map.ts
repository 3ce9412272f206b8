/** A Map whose entries may carry an expiry, checked lazily on read and swept periodically. */
export class ExpiringMap<V> {
  private readonly values = new Map<string, V>();
  private readonly expiresAt = new Map<string, number>();

  get(key: string, now = Date.now()): V | undefined {
    const at = this.expiresAt.get(key);
    if (at !== undefined && at <= now) {
      this.delete(key);
      return undefined;
    }
    return this.values.get(key);
  }

  has(key: string, now = Date.now()): boolean {
    return this.get(key, now) !== undefined;
  }

  set(key: string, value: V, ttlMs?: number): void {
    this.values.set(key, value);
    if (ttlMs === undefined) this.expiresAt.delete(key);
    else this.expiresAt.set(key, Date.now() + ttlMs);
  }

  /** Milliseconds left before `key` expires; undefined when it never expires (or is absent). */
  ttl(key: string, now = Date.now()): number | undefined {
    const at = this.expiresAt.get(key);
    return at === undefined ? undefined : Math.max(1, at - now);
  }

  expire(key: string, ttlMs: number): void {
    if (this.values.has(key)) this.expiresAt.set(key, Date.now() + ttlMs);
  }

  delete(key: string): void {
    this.values.delete(key);
    this.expiresAt.delete(key);
  }

  sweep(now = Date.now()): void {
    for (const [key, at] of this.expiresAt) if (at <= now) this.delete(key);
  }
}
