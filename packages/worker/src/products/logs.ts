import {
  completeLogEntry,
  clearedFrame,
  logClearBodySchema,
  logStreamBodySchema,
  logsChannel,
  logsFrame,
  newEventId,
} from '@switchboard/protocol';
import { appendLogHistoryOps, clearLogHistoryOps, logRateOps } from '@switchboard/state';
import type { CommitGuard, Publish, StoreOp } from '@switchboard/engine';
import { decodeBody, type DecodedEntry, type ProductResult, type ProductSettings } from '../entry.js';

/**
 * Log entries (one or a batch, possibly of several apps): each app's history gets them
 * (capped), the rate counters count them, and each app's channel gets one `logs` frame — all in
 * one commit.
 */
export function logsCommit(entry: DecodedEntry, guard: CommitGuard, settings: ProductSettings): ProductResult {
  const body = decodeBody(entry, logStreamBodySchema);
  if (!body.ok) return body;
  const byApp = new Map<string, string[]>();
  const levels: string[] = [];
  body.value.items.forEach((input, index) => {
    // The gateway assigned ids; entries XADDed by other producers get one here.
    const id = input.id ?? (index === 0 ? entry.id : newEventId());
    const line = JSON.stringify(completeLogEntry(input, id, entry.at));
    const lines = byApp.get(input.appId);
    if (lines === undefined) byApp.set(input.appId, [line]);
    else lines.push(line);
    levels.push(input.level);
  });
  const ops: StoreOp[] = [];
  const publish: Publish[] = [];
  for (const [appId, lines] of byApp) {
    ops.push(...appendLogHistoryOps(appId, lines, settings.logHistoryLimit));
    publish.push({ channel: logsChannel(appId), frame: logsFrame(lines) });
  }
  ops.push(...logRateOps(levels, entry.at));
  return { ok: true, commit: { guard, ops, publish } };
}

/**
 * A client's `clear`: the app's history is emptied, and `cleared` goes out on the app's channel
 * — in stream order, so entries ingested before the clear are gone and those after it are kept.
 */
export function logsClearCommit(entry: DecodedEntry, guard: CommitGuard): ProductResult {
  const body = decodeBody(entry, logClearBodySchema);
  if (!body.ok) return body;
  const { appId } = body.value;
  return {
    ok: true,
    commit: { guard, ops: clearLogHistoryOps(appId), publish: { channel: logsChannel(appId), frame: clearedFrame(appId) } },
  };
}
