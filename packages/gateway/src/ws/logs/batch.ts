import { joinLogPayloads } from '@switchboard/protocol';

/** Entries are batched per app: sent after this long (live), or sooner once this many bytes wait. */
export const LOG_BATCH_DELAY_MS = 25;
export const LOG_BATCH_MAX_BYTES = 64 * 1024;

/** Consecutive channel frames' entries joined into one `logs` batch, and the offsets it covers. */
export interface GatheredBatch {
  payload: string;
  fromOffset: number;
  toOffset: number;
}

/**
 * The batching rule of `/ws/logs`, one for live delivery and for a resume's replay: consecutive
 * frames' entries go into one batch until it reaches LOG_BATCH_MAX_BYTES (live delivery also
 * sends it after LOG_BATCH_DELAY_MS, or before anything that is not entries).
 */
export class LogBatch {
  private payloads: string[] = [];
  private bytes = 0;
  private fromOffset = 0;
  private toOffset = 0;

  get empty(): boolean {
    return this.payloads.length === 0;
  }

  /** Adds the entries of the frame at `offset`; true when the batch is full and must go out now. */
  add(payload: string, offset: number): boolean {
    if (this.payloads.length === 0) this.fromOffset = offset;
    this.payloads.push(payload);
    this.bytes += payload.length;
    this.toOffset = offset;
    return this.bytes >= LOG_BATCH_MAX_BYTES;
  }

  /** The batch gathered so far (undefined when empty); the next one starts empty. */
  take(): GatheredBatch | undefined {
    if (this.payloads.length === 0) return undefined;
    const batch = { payload: joinLogPayloads(this.payloads), fromOffset: this.fromOffset, toOffset: this.toOffset };
    this.payloads = [];
    this.bytes = 0;
    return batch;
  }
}
