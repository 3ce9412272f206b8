/**
 * The resume request of a raw client (`?epoch=E&since=N` on the upgrade, or `epoch`/`since` in the
 * logs `auth` data) and the frames that answer it.
 */

import type { HistoryRequest, HistoryResult } from '@switchboard/engine';
import { appendFields } from '@switchboard/protocol';

/** A resume is the engine's history request: the channel's epoch and the last offset the client processed. */
export type ResumeParse = { ok: true; resume: HistoryRequest | undefined } | { ok: false; error: string };

/** Epochs are short opaque tokens chosen by the engine; anything else cannot be one. */
const EPOCH = /^[A-Za-z0-9_.:-]{1,64}$/;
const OFFSET = /^\d{1,15}$/;

/**
 * Checks a resume request. Both fields or neither: an epoch names the numbering `since` counts
 * in, so one without the other is a client bug, answered as such rather than guessed at.
 * `since` arrives as text (query string) or a number (JSON). `acrossEpochs` (`1` in a query
 * string, `true` in JSON) asks for a new epoch in full when the channel's epoch changed.
 */
export function parseResume(epoch: string | undefined, since: string | number | undefined, acrossEpochs?: string | boolean): ResumeParse {
  const hasEpoch = epoch !== undefined && epoch !== '';
  const hasSince = since !== undefined && since !== '';
  if (!hasEpoch && !hasSince) return { ok: true, resume: undefined };
  if (!hasEpoch || !hasSince) return { ok: false, error: 'epoch and since go together: pass both to resume, or neither' };
  if (!EPOCH.test(epoch)) return { ok: false, error: "epoch: expected the epoch a first frame carried (1-64 letters, digits, '_', '.', ':' or '-')" };
  const offset = typeof since === 'number' ? since : OFFSET.test(since) ? Number(since) : NaN;
  if (!Number.isSafeInteger(offset) || offset < 0) return { ok: false, error: 'since: expected the last offset received, a non-negative integer' };
  const across = acrossEpochs === true || acrossEpochs === '1' || acrossEpochs === 'true';
  return { ok: true, resume: across ? { epoch, since: offset, acrossEpochs: true } : { epoch, since: offset } };
}

/**
 * A first frame (`initial_stats`, `connection`, `auth_success`) with the channel position a
 * client resumes from appended: `"epoch"` and `"offset"`, as extra last fields.
 */
export const withPosition = (frame: string, epoch: string, offset: number): string => appendFields(frame, { epoch, offset });

/**
 * The resume answer when the history held every missed frame: `count` frames follow; `offset`
 * (an extra field) is the client's position once they have: the offset of the last frame of
 * the channel this connection covers, whether or not a filter kept it. `epochChanged`: the
 * client asked `acrossEpochs` from an older epoch, and the frames are the new epoch's from its
 * offset 1 (`epoch` is the new one).
 */
export const recoveredFrame = (epoch: string, count: number, offset: number, epochChanged = false): string =>
  `{"type":"resumed","recovered":true,"epoch":${JSON.stringify(epoch)},"count":${count},"offset":${offset}${epochChanged ? ',"epochChanged":true' : ''}}`;

/** The resume answer when it could not: the client rebuilds its state from this position. */
export const notRecoveredFrame = (epoch: string, offset: number): string =>
  `{"type":"resumed","recovered":false,"epoch":${JSON.stringify(epoch)},"offset":${offset}}`;

/**
 * Why a raw resume is answered `recovered:false` (docs/delivery.md, the `reason` label of
 * `switchboard_resume_not_recovered_total`):
 * - `epoch_changed`: the client's epoch is not the channel's (Redis lost the channel's data), and
 *   it did not ask `acrossEpochs`, or the new epoch's history no longer holds its offset 1;
 * - `ahead_of_channel`: its offset is beyond the channel's latest (a position from elsewhere);
 * - `history_too_short`: its offset is older than the history holds (HISTORY_SIZE, HISTORY_TTL_S);
 * - `node_epoch`: the history answered, but this node's feed is in another epoch (it has not
 *   followed an epoch change yet);
 * - `history_gap`: the history and the frames this node forwarded meanwhile do not join (a hole
 *   the node skipped, older than the history).
 */
export type NotRecoveredReason = 'epoch_changed' | 'ahead_of_channel' | 'history_too_short' | 'node_epoch' | 'history_gap';

/** The reason a history read cannot recover `resume` on a node whose feed is in `nodeEpoch`; undefined when it can. */
export function unrecoverable(resume: HistoryRequest, history: HistoryResult, nodeEpoch: string): NotRecoveredReason | undefined {
  if (!history.recovered) {
    if (history.epoch !== resume.epoch) return 'epoch_changed';
    return resume.since > history.offset ? 'ahead_of_channel' : 'history_too_short';
  }
  return history.epoch === nodeEpoch ? undefined : 'node_epoch';
}
