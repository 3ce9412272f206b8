import {
  CHANNELS,
  acceptAnalytics,
  analyticsEventFrame,
  analyticsIngestSchema,
  type AnalyticsEvent,
} from '@switchboard/protocol';
import { analyticsEventOps } from '@switchboard/state';
import type { Commit, CommitGuard } from '@switchboard/engine';
import { decodeBody, type DecodedEntry, type ProductResult } from '../entry.js';

/** An analytics event: statistics updated and the event frame published, in one commit. */
export function analyticsCommit(entry: DecodedEntry, guard: CommitGuard): ProductResult {
  const body = decodeBody(entry, analyticsIngestSchema, acceptAnalytics);
  if (!body.ok) return body;
  const event: AnalyticsEvent = {
    id: entry.id,
    type: body.value.type,
    visitor_id: body.value.visitor_id,
    timestamp: body.value.timestamp ?? new Date(entry.at).toISOString(),
    data: body.value.data,
  };
  const commit: Commit = {
    guard,
    ops: analyticsEventOps(event, entry.at),
    publish: { channel: CHANNELS.analytics, frame: analyticsEventFrame(event) },
  };
  return { ok: true, commit };
}
