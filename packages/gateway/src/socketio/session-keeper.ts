import type { Namespace, Socket } from 'socket.io';
import { withTimeout } from '@switchboard/protocol';
import type { SessionStore, StoredSession } from './session-store.js';

/**
 * How old a stored session may be and still count as stored now: a restored socket whose session
 * is that fresh and whose rooms are the stored ones does not store it again (a drained gateway's
 * clients arrive together, each session stored by the drain a moment before). Well below the
 * refresh period (a third of the TTL), so the session outlives the socket's next refresh.
 */
export const FRESH_SESSION_MS = 5_000;

/**
 * How long a room change's acknowledgement waits for the socket's session to be stored (see
 * `changeStored`): Redis slow or away delays a subscribe by at most this, never refuses it.
 */
export const STORED_ACK_TIMEOUT_MS = 2_000;

/** A socket's private session id (set by Socket.IO when connection state recovery is on). */
const pidOf = (socket: Socket | undefined): string | undefined => (socket as unknown as { pid?: string } | undefined)?.pid;

const sameRooms = (rooms: ReadonlySet<string>, stored: readonly string[]): boolean =>
  rooms.size === stored.length && stored.every((room) => rooms.has(room));

/**
 * The session bookkeeping of one namespace's sockets. Sessions are stored while sockets are
 * connected, not only when they drop: a gateway killed outright stores nothing, and a client may
 * reconnect elsewhere before a drop is noticed here. A socket's data is set once, when it
 * connects: only its rooms change. Room changes are stored once per turn (a restored socket's
 * first store skipped while its stored session is fresh and its rooms are the stored ones);
 * every session is refreshed before it expires with the history; a socket that left for good
 * (it or the server said so) is forgotten, one that dropped keeps the session Socket.IO handed over.
 */
export class SessionKeeper {
  /** Sockets whose rooms changed since their session was last stored. */
  private readonly unsaved = new Set<string>();
  /** Sockets whose final session Socket.IO just handed over (their connection dropped). */
  private readonly dropped = new Set<string>();
  /** Sockets just restored from a fresh stored session: the rooms stored (see `restored`). */
  private readonly stored = new Map<string, readonly string[]>();
  /** The latest write of each socket's session, while it is in flight. */
  private readonly writes = new Map<string, Promise<boolean>>();
  /** When `storeAll` last stored every session, all writes succeeding (a drain, just before it closes the transports). */
  private storedAllAt: number | undefined;
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

  /**
   * Resolves once socket `id`'s rooms as they are now are stored (its pending change written, or
   * after `timeoutMs`): what a room change's acknowledgement waits for.
   */
  async written(id: string, timeoutMs = STORED_ACK_TIMEOUT_MS): Promise<void> {
    // A change is written at the end of the turn it was made in (`changed`): one turn later it is under way.
    if (this.unsaved.has(id)) await new Promise((resolve) => setImmediate(resolve));
    const write = this.writes.get(id);
    if (write !== undefined) await withTimeout(write, timeoutMs, false);
  }

  /**
   * Socket.IO is about to restore `session` (read from the store): while its socket's rooms are
   * the stored ones, its first store is skipped when the stored session is fresh enough.
   */
  restored(session: StoredSession, now = Date.now()): void {
    if (session.savedAt !== undefined && now - session.savedAt <= this.freshForMs()) this.stored.set(session.sid, session.rooms);
  }

  private freshForMs(): number {
    return Math.min(FRESH_SESSION_MS, (this.store.ttlS * 1000) / 3);
  }

  /** Socket `id` (`socket`, looked up before it was removed) left every room: it is gone. */
  left(id: string, socket: Socket | undefined): void {
    this.unsaved.delete(id);
    this.stored.delete(id);
    // A socket that left for good (it or the server said so) is not to be recovered.
    const pid = pidOf(socket);
    if (!this.dropped.delete(id) && socket?.connected === true && pid !== undefined) this.store.forget(pid);
  }

  /**
   * The session Socket.IO hands over when a socket's connection dropped. Not stored again when
   * `storeAll` stored it a moment ago and its rooms did not change since (a drain closing every
   * transport right after storing every session).
   */
  persist(session: StoredSession, now = Date.now()): void {
    this.dropped.add(session.sid);
    const justStored = this.storedAllAt !== undefined && now - this.storedAllAt <= this.freshForMs() && !this.unsaved.has(session.sid);
    if (!justStored) void this.store.save(session);
  }

  /**
   * Stores the session of every connected socket now and resolves once stored (or after
   * `timeoutMs`, so that a Redis outage does not hold a drain).
   */
  async storeAll(timeoutMs: number): Promise<void> {
    this.refreshAll();
    const startedAt = Date.now();
    this.saveChanged();
    if (await withTimeout(this.store.flush(), timeoutMs, false)) this.storedAllAt = startedAt;
  }

  private refreshAll(): void {
    for (const id of this.namespace.sockets.keys()) this.changed(id);
  }

  private saveChanged(): void {
    for (const id of this.unsaved) {
      const socket = this.namespace.sockets.get(id);
      const pid = pidOf(socket);
      const stored = this.stored.get(id);
      this.stored.delete(id);
      if (socket?.connected !== true || pid === undefined || (stored !== undefined && sameRooms(socket.rooms, stored))) continue;
      const write = this.store.save({ sid: id, pid, rooms: [...socket.rooms], data: socket.data });
      this.writes.set(id, write);
      void write.finally(() => {
        if (this.writes.get(id) === write) this.writes.delete(id);
      });
    }
    this.unsaved.clear();
  }
}

/** What the room handlers need of the namespace's adapter (see EngineAdapter.sessionStored). */
interface StoresSessions {
  sessionStored(id: string): Promise<void>;
}

/**
 * Applies a room change of `socket` (a join or a leave) and resolves once its session holds it:
 * a subscribe acknowledged is one a recovered session keeps, even when this gateway dies right
 * after the acknowledgement (the client, told it recovered, does not subscribe again).
 */
export async function changeStored(socket: Socket, change: () => Promise<void> | void): Promise<void> {
  await change();
  await (socket.nsp.adapter as unknown as Partial<StoresSessions>).sessionStored?.(socket.id);
}
