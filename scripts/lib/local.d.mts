/** Types of scripts/lib/local.mjs. */
export declare function freePort(): Promise<number>;

export interface UntilOptions {
  timeoutMs?: number;
  intervalMs?: number;
  shouldStop?: () => boolean;
}

export declare function until<T>(what: string, check: () => T | Promise<T>, options?: UntilOptions): Promise<NonNullable<T>>;
