import { describe, expect, it } from 'vitest';
import { publishesOf, type StreamEntry } from '@switchboard/engine';
import { parseSocketIoMessage } from '@switchboard/protocol';
import { decodeEntry, type DecodedEntry } from '../src/entry.js';
import { analyticsCommit } from '../src/products/analytics.js';
import { errorReportCommit } from '../src/products/error-monitor.js';
import { jobEventCommit } from '../src/products/jobs.js';
import type { StateReader } from '../src/entry.js';

const guard = { kind: 'entry' as const, streamId: '1-0', consumer: 'c' };
const entry = (kind: DecodedEntry['kind'], body: unknown): DecodedEntry => ({
  kind,
  id: '01a200f1-62d5-72c1-a1a7-cc7260cb3229',
  at: Date.UTC(2026, 10, 22, 12),
  body: JSON.stringify(body),
});
/** The Socket.IO adapter messages a commit publishes, as the gateways read them. */
const socketIoMessages = (commit: Parameters<typeof publishesOf>[0]) =>
  publishesOf(commit).map((p) => {
    expect(p.channel).toBe('sb:ch:socket.io:/');
    const parsed = parseSocketIoMessage(p.frame);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value as { type: number; uid: string; nsp: string; data: Record<string, unknown> };
  });

/** A state reader over fixed string keys (the product only reads job owners). */
const owners = (keys: Record<string, string>): StateReader => ({
  readStrings: (reads) => Promise.resolve(reads.map((read) => (read.op === 'mget' ? read.keys.flatMap((k) => (keys[k] === undefined ? [] : [keys[k]])) : []))),
});

describe('decodeEntry', () => {
  const stream = (fields: Record<string, string>): StreamEntry => ({ streamId: '1795312149000-3', fields, deliveries: 1 });

  it('fills the id and time of entries producers appended directly', () => {
    const decoded = decodeEntry(stream({ kind: 'analytics', body: '{}' }));
    expect(decoded.ok && decoded.value.at).toBe(1795312149000);
    expect(decoded.ok && decoded.value.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('decodes an entry as a gateway writes it, and refuses an `at` out of bounds', () => {
    const fields = { kind: 'job', id: '01a200f1-62d5-72c1-a1a7-cc7260cb3229', at: '1795312149123', body: '{}' };
    expect(decodeEntry(stream(fields))).toEqual({ ok: true, value: { kind: 'job', id: fields.id, at: 1795312149123, body: '{}' } });
    expect(decodeEntry(stream({ ...fields, at: '949' }))).toEqual({ ok: false, error: expect.stringMatching(/^at: expected unix milliseconds/) as unknown });
    expect(decodeEntry({ ...stream({ kind: 'job', body: '{}' }), streamId: '12-0' })).toEqual({ ok: false, error: expect.stringMatching(/^at: the stream id 12-0 is not a usable time/) as unknown });
  });

  it('refuses unknown kinds and missing bodies, naming the field', () => {
    expect(decodeEntry(stream({ kind: 'sms', body: '{}' }))).toEqual({ ok: false, error: expect.stringMatching(/^kind: expected one of analytics, error, job\b/) as unknown });
    expect(decodeEntry(stream({ kind: 'analytics' }))).toEqual({ ok: false, error: 'body: expected a JSON string' });
  });
});

describe('product commits', () => {
  it('analytics: statistics ops and the event frame, validated again', () => {
    const result = analyticsCommit(entry('analytics', { type: 'letter_generated', visitor_id: 'v1' }), guard);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.commit.ops.map((o) => o.op)).toEqual(['incr', 'pfadd', 'expire', 'zadd', 'incr', 'expire']);
    expect(JSON.parse(publishesOf(result.commit)[0]!.frame)).toMatchObject({ type: 'letter_generated', visitor_id: 'v1', timestamp: '2026-11-22T12:00:00.000Z' });
    expect(analyticsCommit({ ...entry('analytics', {}), body: '{oops' }, guard)).toEqual({ ok: false, error: 'body: invalid JSON' });
  });

  it('analytics: a body the fast path defers on is decided and worded by the schema', () => {
    const loneSurrogate = { ...entry('analytics', {}), body: '{"type":"page_view","visitor_id":"v\ud800"}' };
    expect(analyticsCommit(loneSurrogate, guard)).toEqual({ ok: false, error: 'visitor_id: expected well-formed Unicode (a lone surrogate)' });
    expect(analyticsCommit(entry('analytics', { type: 'page_view', visitor_id: ' v ' }), guard)).toMatchObject({ ok: true });
    expect(analyticsCommit(entry('analytics', { type: 'Heartbeat', visitor_id: 'v' }), guard)).toMatchObject({ ok: false, error: expect.stringMatching(/^type: reserved/) as unknown });
  });

  it('error monitor: three Socket.IO broadcasts, to all and to the service and level rooms, in one channel frame', () => {
    const result = errorReportCommit(entry('error', { service: 'billing', error: { message: 'x' }, level: 'fatal' }), guard);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.commit.ops).toEqual([]);
    const [frame, ...others] = socketIoMessages(result.commit);
    expect(others).toEqual([]);
    expect([frame!.type, frame!.uid, frame!.nsp]).toEqual([100, 'emitter', '/']);
    const messages = (frame!.data['parts'] as Record<string, unknown>[]).map((data) => ({ data }));
    expect(messages.map((m) => m.data['opts'])).toEqual([
      { rooms: [], except: [], flags: {} },
      { rooms: ['service:billing'], except: [], flags: {} },
      { rooms: ['level:fatal'], except: [], flags: {} },
    ]);
    const packets = messages.map((m) => m.data['packet'] as { type: number; data: unknown[] });
    expect(packets.map((p) => [p.type, p.data[0]])).toEqual([[2, 'error:new'], [2, 'error:service'], [2, 'error:level']]);
    expect(packets[1]!.data[1]).toMatchObject({ service: 'billing', message: 'x', stack: null, level: 'fatal', createdAt: '2026-11-22T12:00:00.000Z' });
  });

  it('jobs: an owner is recorded, and other sockets leave the job room before the event is emitted to it', async () => {
    const result = await jobEventCommit(entry('job', { jobId: 'j1', type: 'job_started', ownerId: 'alice' }), guard, {}, owners({}));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.commit.ops).toEqual([
      { op: 'setnx', key: 'sb:job:j1:owner', value: 'alice', seconds: 604800 },
      { op: 'expire', key: 'sb:job:j1:owner', seconds: 604800 },
    ]);
    const [leave, emit] = socketIoMessages(result.commit);
    expect(leave).toMatchObject({ type: 5, data: { opts: { rooms: ['job:j1'], except: ['user:alice', 'role:admin'] }, rooms: ['job:j1'] } });
    expect(emit).toMatchObject({ type: 3, data: { opts: { rooms: ['job:j1'], except: [] } } });
    expect((emit!.data['packet'] as { data: unknown[] }).data).toEqual(['event', { type: 'job_started', jobId: 'j1', timestamp: '2026-11-22T12:00:00.000Z', data: {} }]);
  });

  it('jobs: an event naming another owner than the remembered one is refused (it would evict the owner)', async () => {
    const state = owners({ 'sb:job:j3:owner': 'alice' });
    expect(await jobEventCommit(entry('job', { jobId: 'j3', type: 'item_scraped', ownerId: 'mallory' }), guard, {}, state)).toEqual({
      ok: false,
      error: 'ownerId: job "j3" belongs to another owner',
    });
    expect((await jobEventCommit(entry('job', { jobId: 'j3', type: 'item_scraped', ownerId: 'alice' }), guard, {}, state)).ok).toBe(true);
  });

  it('jobs without an owner touch no state and only emit', async () => {
    const result = await jobEventCommit(entry('job', { jobId: 'j2', type: 'item_scraped', data: { title: 't' } }), guard, {}, owners({}));
    expect(result.ok && result.commit.ops).toEqual([]);
    expect(result.ok && socketIoMessages(result.commit).map((m) => [m.type, m.data['opts']])).toEqual([[3, { rooms: ['job:j2'], except: [], flags: {} }]]);
  });
});
