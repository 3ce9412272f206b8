import {
  ERROR_EVENTS,
  errorEventRecord,
  levelRoom,
  reportIngestSchema,
  serviceRoom,
} from '@switchboard/protocol';
import type { CommitGuard } from '@switchboard/engine';
import { decodeBody, type DecodedEntry, type ProductResult } from '../entry.js';
import { socketIoEmit } from './socketio-emit.js';

/** An error report: `error:new` to all, `error:service` and `error:level` to their rooms. */
export function errorReportCommit(entry: DecodedEntry, guard: CommitGuard): ProductResult {
  const report = decodeBody(entry, reportIngestSchema);
  if (!report.ok) return report;
  const record = errorEventRecord(entry.id, report.value, entry.at);
  const publish = [
    socketIoEmit({ rooms: [], except: [] }, ERROR_EVENTS.new, record),
    socketIoEmit({ rooms: [serviceRoom(record.service)], except: [] }, ERROR_EVENTS.service, record),
    socketIoEmit({ rooms: [levelRoom(record.level)], except: [] }, ERROR_EVENTS.level, record),
  ];
  return { ok: true, commit: { guard, ops: [], publish } };
}
