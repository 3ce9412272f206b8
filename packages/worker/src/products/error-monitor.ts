import {
  ERROR_EVENTS,
  errorEventRecord,
  levelRoom,
  reportIngestSchema,
  serviceRoom,
} from '@switchboard/protocol';
import type { CommitGuard } from '@switchboard/engine';
import { decodeBody, type DecodedEntry, type ProductResult } from '../entry.js';
import { socketIoEmits } from './socketio-emit.js';

/** An error report: `error:new` to all, `error:service` and `error:level` to their rooms. */
export function errorReportCommit(entry: DecodedEntry, guard: CommitGuard): ProductResult {
  const report = decodeBody(entry, reportIngestSchema);
  if (!report.ok) return report;
  const record = errorEventRecord(entry.id, report.value, entry.at);
  // One frame for the three: a report spends one slot of the channel's history, not three.
  const publish = socketIoEmits([
    { to: { rooms: [], except: [] }, event: ERROR_EVENTS.new, args: [record] },
    { to: { rooms: [serviceRoom(record.service)], except: [] }, event: ERROR_EVENTS.service, args: [record] },
    { to: { rooms: [levelRoom(record.level)], except: [] }, event: ERROR_EVENTS.level, args: [record] },
  ]);
  return { ok: true, commit: { guard, ops: [], publish: [publish] } };
}
