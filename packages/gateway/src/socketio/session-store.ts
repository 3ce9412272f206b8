import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import { socketIoSessionKey } from '@switchboard/protocol';

/** What Socket.IO hands to `persistSession` when a socket drops without saying goodbye. */
export interface StoredSession {
  sid: string;
  pid: string;
  rooms: string[];
  data: unknown;
  /** When it was stored (ms since the epoch); absent on what Socket.IO hands over. */
  savedAt?: number;
}

/** Socket.IO private session ids are 20 base64url characters; anything else is not ours. */
const PID = /^[A-Za-z0-9_-]{1,64}$/;

const isSession = (value: unknown): value is StoredSession => {
  const s = value as Partial<StoredSession> | null;
  return (
    typeof s === 'object' && s !== null && typeof s.sid === 'string' && typeof s.pid === 'string' &&
    Array.isArray(s.rooms) && s.rooms.every((r) => typeof r === 'string')
  );
};

/** A stored session, when it is one and belongs to `pid`. */
function parseSession(stored: string | undefined, pid: string): StoredSession | undefined {
  if (stored === undefined) return undefined;
  try {
    const session: unknown = JSON.parse(stored);
    if (!isSession(session) || session.pid !== pid) return undefined;
    if (typeof session.savedAt !== 'number') delete session.savedAt;
    return session;
  } catch {
    return undefined;
  }
}

/**
 * Socket.IO sessions (id, private id, rooms, data), kept in the engine for as long as the channel
 * history (`ttlS`), so whichever gateway a client reconnects to can restore it.
 *
 * Reading a session leaves it stored: the restored socket stores its own as soon as it is back,
 * and until then the stored one is what a reconnect needs if this one fails (the client drops
 * again, or the gateway drains, before the restored socket is connected). Taking it out on read
 * would lose it in that window. A session ends when its socket leaves for good (`forget`) or its
 * TTL runs out.
 */
export class SessionStore {
  constructor(
    private readonly engine: Engine,
    readonly ttlS: number,
    private readonly logger: Logger,
  ) {}

  /** Writes in flight, each resolving to whether it succeeded. */
  private readonly saving = new Set<Promise<boolean>>();

  /** Stores `session`; resolves once written, to whether it was (a failure is logged, never thrown). */
  save(session: StoredSession): Promise<boolean> {
    if (!PID.test(session.pid)) return Promise.resolve(false);
    const value = JSON.stringify({ sid: session.sid, pid: session.pid, rooms: session.rooms, data: session.data ?? {}, savedAt: Date.now() });
    return this.track(this.engine.commit({ guard: { kind: 'none' }, ops: [{ op: 'set', key: socketIoSessionKey(session.pid), value, ttlS: this.ttlS }] }));
  }

  /** Drops the session of a socket that left for good (it is not to be recovered). */
  forget(pid: string): void {
    if (!PID.test(pid)) return;
    void this.track(this.engine.commit({ guard: { kind: 'none' }, ops: [{ op: 'del', key: socketIoSessionKey(pid) }] }));
  }

  private track(write: Promise<unknown>): Promise<boolean> {
    const done: Promise<boolean> = write
      .then(
        () => true,
        (err: unknown) => {
          this.logger.warn({ err }, 'Socket.IO session store write failed');
          return false;
        },
      )
      .finally(() => this.saving.delete(done));
    this.saving.add(done);
    return done;
  }

  /** Resolves once every write started so far has finished (before the engine closes): whether they all succeeded. */
  async flush(): Promise<boolean> {
    return (await Promise.all([...this.saving])).every(Boolean);
  }

  /** The session saved under `pid`; undefined when unknown, expired or not one of ours. */
  async read(pid: string): Promise<StoredSession | undefined> {
    const [session] = await this.readMany([pid]);
    return session;
  }

  /** The sessions saved under `pids` (one round trip), in order; undefined where there is none. */
  async readMany(pids: string[]): Promise<(StoredSession | undefined)[]> {
    const valid = pids.filter((pid) => PID.test(pid));
    // One read per key: an MGET leaves missing keys out, which would lose the order.
    const stored = await this.engine.readStrings(valid.map((pid) => ({ op: 'mget', keys: [socketIoSessionKey(pid)] })));
    const at = new Map(valid.map((pid, i) => [pid, i]));
    return pids.map((pid) => {
      const i = at.get(pid);
      return i === undefined ? undefined : parseSession(stored[i]?.[0], pid);
    });
  }
}
