import { DEFAULT_BACKOFF, type BackoffOptions } from '@switchboard/client';

/** The gateway that served this page: every endpoint is on its origin. */
export const origin = location.origin;

/** The SDK's backoff, capped lower: a person is watching. */
export const RECONNECT: BackoffOptions = { ...DEFAULT_BACKOFF, maxDelayMs: 15_000 };
