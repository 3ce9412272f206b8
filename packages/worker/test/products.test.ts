import { describe, expect, it } from 'vitest';
import notepack from 'notepack.io';
import { publishesOf, type StreamEntry } from '@switchboard/engine';
import { decodeEntry, type DecodedEntry } from '../src/entry.js';
import { analyticsCommit } from '../src/products/analytics.js';
import { errorReportCommit } from '../src/products/error-monitor.js';
import { jobEventCommit } from '../src/products/jobs.js';

const guard = { kind: 'entry' as const, streamId: '1-0', consumer: 'c' };
const entry = (kind: DecodedEntry['kind'], body: unknown): DecodedEntry => ({
  kind,
  id: '01a200f1-62d5-72c1-a1a7-cc7260cb3229',
  at: Date.UTC(2026, 10, 22, 12),
  body: JSON.stringify(body),
});
/** Decodes an adapter-protocol broadcast as @socket.io/redis-adapter does. */
const decode = (message: Buffer) => notepack.decode(message) as [string, { type: number; data: unknown[]; nsp: string }, { rooms: string[]; except: string[] }];

describe('decodeEntry', () => {
  const stream = (fields: Record<string, string>): StreamEntry => ({ streamId: '1795312149000-3', fields, deliveries: 1 });

  it('fills the id and time of entries producers appended directly', () => {
    const decoded = decodeEntry(stream({ kind: 'analytics', body: '{}' }));
    expect(decoded.ok && decoded.value.at).toBe(1795312149000);
    expect(decoded.ok && decoded.value.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses unknown kinds and missing bodies, naming the field', () => {
    expect(decodeEntry(stream({ kind: 'sms', body: '{}' }))).toEqual({ ok: false, error: expect.stringMatching(/^kind: expected one of analytics, error, job\b/) });
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

  it('error monitor: three adapter-protocol emits, to all and to the service and level rooms', () => {
    const result = errorReportCommit(entry('error', { service: 'billing', error: { message: 'x' }, level: 'fatal' }), guard);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const broadcasts = result.commit.broadcasts ?? [];
    expect(broadcasts.map((b) => b.channel)).toEqual(['socket.io#/#', 'socket.io#/#service:billing#', 'socket.io#/#level:fatal#']);
    const [, packet, opts] = decode(broadcasts[1]!.message);
    expect(packet.data[0]).toBe('error:service');
    expect(packet.data[1]).toMatchObject({ service: 'billing', message: 'x', stack: null, level: 'fatal', createdAt: '2026-11-22T12:00:00.000Z' });
    expect(opts.rooms).toEqual(['service:billing']);
  });

  it('jobs: an owner is recorded and other sockets are made to leave the job room', () => {
    const result = jobEventCommit(entry('job', { jobId: 'j1', type: 'job_started', ownerId: 'alice' }), guard);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.commit.ops).toEqual([
      { op: 'setnx', key: 'sb:job:j1:owner', value: 'alice', seconds: 604800 },
      { op: 'expire', key: 'sb:job:j1:owner', seconds: 604800 },
    ]);
    const [leave, emit] = result.commit.broadcasts ?? [];
    expect(leave!.channel).toBe('socket.io-request#/#');
    expect(JSON.parse(leave!.message.toString())).toMatchObject({ type: 3, opts: { rooms: ['job:j1'], except: ['user:alice', 'role:admin'] }, rooms: ['job:j1'] });
    expect(emit!.channel).toBe('socket.io#/#job:j1#');
    expect(decode(emit!.message)[1].data).toEqual(['event', { type: 'job_started', jobId: 'j1', timestamp: '2026-11-22T12:00:00.000Z', data: {} }]);
  });

  it('jobs without an owner touch no state', () => {
    const result = jobEventCommit(entry('job', { jobId: 'j2', type: 'item_scraped', data: { title: 't' } }), guard);
    expect(result.ok && result.commit.ops).toEqual([]);
    expect(result.ok && result.commit.broadcasts?.map((b) => b.channel)).toEqual(['socket.io#/#job:j2#']);
  });
});
