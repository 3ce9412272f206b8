import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'uWebSockets.js';
import type { PresenceDiff } from '@switchboard/protocol';
import type { GatewayContext } from '../src/context.js';
import type { SocketData } from '../src/ws/connections.js';
import { CONGESTED_BYTES, CONGESTED_RECHECK_MS, RawDiffSubscriber } from '../src/presence/raw-clients.js';

/**
 * A congested raw subscriber: its diffs are held and go out netted as one once its socket has
 * room. The socket stands in for uWS's (what the subscriber reads of it: its unsent bytes, its
 * closed flag; what it writes), since a real one only congests after megabytes of kernel buffers.
 */
class Socket {
  buffered = 0;
  readonly data = { closed: false, endpoint: 'analytics' } as SocketData;
  readonly sent: Record<string, unknown>[] = [];
  getUserData = () => this.data;
  getBufferedAmount = () => this.buffered;
  cork = (run: () => void) => run();
  send = (frame: string) => {
    this.sent.push(JSON.parse(frame) as Record<string, unknown>);
    return 1;
  };
}

const ctx = { metrics: { sent: { inc: () => undefined } } } as unknown as GatewayContext;
const member = (clientId: string) => ({ clientId, userId: null, info: {} });
const diff = (offset: number, joined: string[], left: string[] = [], epoch = 'e1'): PresenceDiff => ({
  type: 'presence_diff',
  channel: 'analytics',
  joined: joined.map(member),
  left: left.map(member),
  occupancy: { connections: offset, users: offset },
  epoch,
  offset,
});
const summary = (frames: Record<string, unknown>[]) =>
  frames.map((f) => ({
    type: f['type'],
    offset: f['offset'],
    joined: (f['joined'] as { clientId: string }[] | undefined)?.map((m) => m.clientId),
    left: (f['left'] as { clientId: string }[] | undefined)?.map((m) => m.clientId),
  }));

describe('a congested raw presence subscriber', () => {
  let socket: Socket;
  let subscriber: RawDiffSubscriber;
  beforeEach(() => {
    vi.useFakeTimers();
    socket = new Socket();
    subscriber = new RawDiffSubscriber('analytics', socket as unknown as WebSocket<SocketData>, ctx);
  });
  afterEach(() => vi.useRealTimers());

  it('sends each diff while the socket keeps up, and nets those that come while it is congested', () => {
    subscriber.diff(diff(1, ['a']));
    socket.buffered = CONGESTED_BYTES + 1;
    subscriber.diff(diff(2, ['b', 'c']));
    subscriber.diff(diff(3, ['d'], ['b']));
    subscriber.diff(diff(4, [], ['a']));
    vi.advanceTimersByTime(CONGESTED_RECHECK_MS * 3);
    expect(socket.sent).toHaveLength(1);
    socket.buffered = 0;
    vi.advanceTimersByTime(CONGESTED_RECHECK_MS);
    expect(summary(socket.sent)).toEqual([
      { type: 'presence_diff', offset: 1, joined: ['a'], left: [] },
      // b joined and left meanwhile: gone; the position and occupancy are the last diff's.
      { type: 'presence_diff', offset: 4, joined: ['c', 'd'], left: ['a'] },
    ]);
    expect(socket.sent[1]?.['occupancy']).toEqual({ connections: 4, users: 4 });
    subscriber.diff(diff(5, ['e']));
    expect(summary(socket.sent).at(-1)).toEqual({ type: 'presence_diff', offset: 5, joined: ['e'], left: [] });
  });

  it('sends what it holds before a resumed answer, and before a diff of another epoch', () => {
    socket.buffered = CONGESTED_BYTES + 1;
    subscriber.diff(diff(7, ['a']));
    subscriber.diff(diff(8, ['b']));
    subscriber.resumed({ type: 'presence_resumed', channel: 'analytics', recovered: true, epoch: 'e1', count: 0, offset: 8 });
    subscriber.diff(diff(9, ['c']));
    subscriber.diff(diff(1, ['d'], [], 'e2'));
    expect(summary(socket.sent)).toEqual([
      { type: 'presence_diff', offset: 8, joined: ['a', 'b'], left: [] },
      { type: 'presence_resumed', offset: 8, joined: undefined, left: undefined },
      { type: 'presence_diff', offset: 9, joined: ['c'], left: [] },
    ]);
    socket.buffered = 0;
    vi.advanceTimersByTime(CONGESTED_RECHECK_MS);
    expect(summary(socket.sent).at(-1)).toEqual({ type: 'presence_diff', offset: 1, joined: ['d'], left: [] });
    expect(socket.sent).toHaveLength(4);
  });

  it('drops what it holds once detached or closed', () => {
    socket.buffered = CONGESTED_BYTES + 1;
    subscriber.diff(diff(1, ['a']));
    subscriber.detached();
    socket.buffered = 0;
    vi.advanceTimersByTime(CONGESTED_RECHECK_MS * 2);
    expect(socket.sent).toEqual([]);

    socket.buffered = CONGESTED_BYTES + 1;
    subscriber.diff(diff(2, ['b']));
    socket.data.closed = true;
    vi.advanceTimersByTime(CONGESTED_RECHECK_MS * 2);
    expect(socket.sent).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
