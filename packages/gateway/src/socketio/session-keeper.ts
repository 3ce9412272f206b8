import type { Namespace, Socket } from 'socket.io';
import { withTimeout } from '@switchboard/protocol';
import type { SessionStore, StoredSession } from './session-store.js';

/** A socket's private session id (set by Socket.IO when connection state recovery is on). */
const pidOf = (socket: Socket | undefined): string | undefined => (socket as unknown as { pid?: string } | undefined)?.pid;

/**
 * The session bookkeeping of one namespace's sockets. Sessions are stored while sockets are
 * connected, not only when they drop: a gateway killed outright stores nothing, and a client may
 * reconnect elsewhere before a drop is noticed here. Room changes are stored once per turn;
 * every session is refreshed before it expires with the history; a socket that left for good
 * (it or the server said so) is forgotten, one that dropped keeps the session Socket.IO handed over.
 */
export class SessionKeeper {
  /** Sockets whose rooms changed since their session was last stored. */
  private readonly unsaved = new Set<string>();
  /** Sockets whose final session Socket.IO just handed over (their connection dropped). */
  private readonly dropped = new Set<string>();
  private refresher: NodeJS.Timeout | undefined;

  constructor(
    private readonly namespace: Namespace,
    private readonly store: SessionStore,
  ) {}

  /** Keeps the sessions of connected sockets fresh (they expire with the history). */
  start(): void {
    if (this.refresher !== undefined) return;
    this.refresher = setInterval(() => this.refreshAll(), (this.store.ttlS * 1000) / 3);
    this.refresher.unref();
  }

  stop(): void {
    clearInterval(this.refresher);
  }

  /** The rooms of socket `id` changed: its session is stored once the turn ends. */
  changed(id: string): void {
    if (this.unsaved.size === 0) setImmediate(() => this.saveChanged());
    this.unsaved.add(id);
  }

  /** Socket `id` (`socket`, looked up before it was removed) left every room: it is gone. */
  left(id: string, socket: Socket | undefined): void {
    this.unsaved.delete(id);
    // A socket that left for good (it or the server said so) is not to be recovered.
    const pid = pidOf(socket);
    if (!this.dropped.delete(id) && socket?.connected === true && pid !== undefined) this.store.forget(pid);
  }

  /** The session Socket.IO hands over when a socket's connection dropped. */
  persist(session: StoredSession): void {
    this.dropped.add(session.sid);
    this.store.save(session);
  }

  /**
   * Stores the session of every connected socket now and resolves once stored (or after
   * `timeoutMs`, so that a Redis outage does not hold a drain).
   */
  async storeAll(timeoutMs: number): Promise<void> {
    this.refreshAll();
    this.saveChanged();
    await withTimeout(this.store.flush(), timeoutMs, undefined);
  }

  private refreshAll(): void {
    for (const id of this.namespace.sockets.keys()) this.changed(id);
  }

  private saveChanged(): void {
    for (const id of this.unsaved) {
      const socket = this.namespace.sockets.get(id);
      const pid = pidOf(socket);
      if (socket?.connected === true && pid !== undefined) this.store.save({ sid: id, pid, rooms: [...socket.rooms], data: socket.data });
    }
    this.unsaved.clear();
  }
}
