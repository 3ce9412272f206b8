import { describe, expect, it } from 'vitest';
import { PresenceFollower, type PresencePosition, type PresenceUpdate } from '../src/core/presence.js';
import type { PresenceDiff, PresenceSnapshot } from '../src/index.js';

const member = (clientId: string) => ({ clientId, userId: null, info: {} });
const snapshot = (offset: number, ...members: string[]): PresenceSnapshot => ({
  type: 'presence',
  channel: 'analytics',
  members: members.map(member),
  occupancy: { connections: members.length, users: members.length },
  epoch: 'e1',
  offset,
});
const diff = (offset: number, joined: string[], left: string[] = [], epoch = 'e1'): PresenceDiff => ({
  type: 'presence_diff',
  channel: 'analytics',
  joined: joined.map(member),
  left: left.map(member),
  occupancy: { connections: 0, users: 0 },
  epoch,
  offset,
});

function setup(first: PresenceSnapshot) {
  const subscribed: (PresencePosition | undefined)[] = [];
  let open = true;
  const follower = new PresenceFollower(
    { snapshot: () => Promise.resolve(first), subscribe: (position) => subscribed.push(position), unsubscribe: () => subscribed.push(undefined) },
    () => open,
  );
  const updates: PresenceUpdate[] = [];
  const stop = follower.follow((update) => updates.push(update));
  return { follower, updates, subscribed, stop, setOpen: (value: boolean) => (open = value) };
}

describe('PresenceFollower', () => {
  it('loads a snapshot, subscribes from its position, and resumes from the last diff after a reconnect', async () => {
    const { follower, updates, subscribed } = setup(snapshot(4, 'a'));
    await Promise.resolve();
    expect(updates[0]).toEqual({ kind: 'snapshot', snapshot: snapshot(4, 'a') });
    expect(subscribed).toEqual([{ epoch: 'e1', offset: 4 }]);
    follower.resumed({ type: 'presence_resumed', channel: 'analytics', recovered: true, epoch: 'e1', count: 0, offset: 4 });
    expect(follower.diff(diff(5, ['b']))).toBe(true);
    follower.opened(); // a reconnect
    expect(subscribed.at(-1)).toEqual({ epoch: 'e1', offset: 5 });
    follower.resumed({ type: 'presence_resumed', channel: 'analytics', recovered: true, epoch: 'e1', count: 1, offset: 6 });
    expect(follower.diff(diff(5, ['b']))).toBe(false); // already applied: dropped
    expect(follower.diff(diff(6, [], ['a']))).toBe(true);
    expect(updates.filter((u) => u.kind === 'diff').map((u) => (u.kind === 'diff' ? u.diff.offset : 0))).toEqual([5, 6]);
  });

  it('replaces its state with the snapshot of a resume that was not recovered, and follows on from its position', async () => {
    const { follower, updates, subscribed } = setup(snapshot(4, 'a'));
    await Promise.resolve();
    follower.opened();
    const fresh = snapshot(9, 'a', 'c');
    follower.resumed({ type: 'presence_resumed', channel: 'analytics', recovered: false, epoch: 'e1', offset: 9, snapshot: fresh });
    expect(updates.at(-1)).toEqual({ kind: 'snapshot', snapshot: fresh });
    expect(follower.diff(diff(8, ['x']))).toBe(false);
    expect(follower.diff(diff(10, ['d']))).toBe(true);
    follower.opened();
    expect(subscribed.at(-1)).toEqual({ epoch: 'e1', offset: 10 });
  });

  it('unsubscribes with its last listener and starts over with a snapshot next time', async () => {
    const { follower, subscribed, stop } = setup(snapshot(4, 'a'));
    await Promise.resolve();
    stop();
    expect(subscribed.at(-1)).toBeUndefined();
    expect(follower.diff(diff(5, ['b']))).toBe(false);
  });
});
