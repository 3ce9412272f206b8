import { isDeadLetterId, type DeadLetter, type DeadLetterPage, type DeadLetters } from '../dead-letters.js';
import type { StreamEntry } from '../engine.js';

/** The in-memory engine's dead letters: the same contract as the Redis stream, capped in length. */
export class MemoryDeadLetters implements DeadLetters {
  /** Oldest first; ids increase. */
  private readonly letters: DeadLetter[] = [];
  private lastMs = 0;
  private seq = 0;

  constructor(private readonly maxLen = 10_000) {}

  add(entry: StreamEntry, reason: string): Promise<string> {
    const now = Date.now();
    this.seq = now > this.lastMs ? 0 : this.seq + 1;
    this.lastMs = Math.max(now, this.lastMs);
    const id = `${this.lastMs}-${this.seq}`;
    this.letters.push({ id, reason, sourceId: entry.streamId, fields: { ...entry.fields }, at: this.lastMs });
    if (this.letters.length > this.maxLen) this.letters.shift();
    return Promise.resolve(id);
  }

  list(limit: number, cursor?: string): Promise<DeadLetterPage> {
    let end = this.letters.length;
    if (cursor !== undefined) {
      const at = isDeadLetterId(cursor) ? this.letters.findIndex((letter) => compareIds(letter.id, cursor) >= 0) : 0;
      end = at === -1 ? this.letters.length : at;
    }
    const entries = this.letters.slice(Math.max(0, end - limit), end).reverse().map(copy);
    return Promise.resolve({ entries, next: end - limit > 0 ? (entries.at(-1)?.id ?? null) : null });
  }

  get(id: string): Promise<DeadLetter | undefined> {
    const letter = this.letters.find((l) => l.id === id);
    return Promise.resolve(letter === undefined ? undefined : copy(letter));
  }

  remove(id: string): Promise<boolean> {
    const at = this.letters.findIndex((l) => l.id === id);
    if (at !== -1) this.letters.splice(at, 1);
    return Promise.resolve(at !== -1);
  }

  count(): Promise<number> {
    return Promise.resolve(this.letters.length);
  }
}

const copy = (letter: DeadLetter): DeadLetter => ({ ...letter, fields: { ...letter.fields } });

/** Stream-id order: milliseconds, then sequence. */
function compareIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs - bMs || aSeq - bSeq;
}
