import { historyResult, type Engine, type HistoryRequest, type HistoryResult } from '@switchboard/engine';
import type { SessionStore, StoredSession } from './session-store.js';

/**
 * Runs one read at a time for everything asked while the previous one was in flight: requests
 * that arrive together (every client of a drained gateway reconnecting at once) share a round
 * trip instead of queueing one each behind the others.
 */
class Coalescer<Request, Answer> {
  private waiting: { request: Request; resolve(answer: Answer): void; reject(err: unknown): void }[] = [];
  private busy = false;

  constructor(private readonly readAll: (requests: Request[]) => Promise<Answer[]>) {}

  read(request: Request): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (!this.busy) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.busy = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        const answers = await this.readAll(batch.map((w) => w.request));
        batch.forEach((w, i) => w.resolve(answers[i] as Answer));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.busy = false;
  }
}

/**
 * The reads a Socket.IO session restore makes (its stored session, the channel's history after
 * its offset), coalesced across the restores in progress: one MGET for the sessions, one history
 * read from the oldest offset of each epoch, from which each restore gets exactly what a read of
 * its own would have returned (the engine's rule, `historyResult`).
 */
export class RestoreReads {
  private readonly sessionReads: Coalescer<string, StoredSession | undefined>;
  private readonly historyReads: Coalescer<HistoryRequest, HistoryResult>;

  constructor(engine: Engine, channel: string, sessions: SessionStore) {
    this.sessionReads = new Coalescer((pids) => sessions.readMany(pids));
    this.historyReads = new Coalescer(async (reads) => {
      const answers: HistoryResult[] = [];
      for (const epoch of new Set(reads.map((r) => r.epoch))) {
        const same = reads.filter((r) => r.epoch === epoch);
        const oldest = Math.min(...same.map((r) => r.since));
        const shared = await engine.history(channel, { epoch, since: oldest });
        for (const [i, read] of reads.entries()) {
          if (read.epoch !== epoch) continue;
          // Not recovered from the oldest offset says nothing about a later one: ask for it alone.
          answers[i] = shared.recovered
            ? historyResult(shared, read, shared.messages.filter((m) => m.offset > read.since))
            : read.since === oldest
              ? shared
              : await engine.history(channel, read);
        }
      }
      return answers;
    });
  }

  session(pid: string): Promise<StoredSession | undefined> {
    return this.sessionReads.read(pid);
  }

  history(read: HistoryRequest): Promise<HistoryResult> {
    return this.historyReads.read(read);
  }
}
