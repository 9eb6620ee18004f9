/**
 * The Append messages in flight to one follower, as a FIFO of (last index, bytes). Bounded in
 * count and bytes: the leader stops sending to a follower whose window is full (flow control).
 */
import { invariant } from './errors';
import type { LogIndex } from './types';

export class Inflights {
  private readonly indexes: LogIndex[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.indexes.length - this.head;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  full(): boolean {
    return this.count >= this.maxMessages || this.totalBytes >= this.maxBytes;
  }

  /** Records a message ending at `index`. Indexes must increase. */
  add(index: LogIndex, bytes: number): void {
    invariant(!this.full(), 'inflights: add while full');
    const last = this.indexes[this.indexes.length - 1];
    invariant(this.count === 0 || last === undefined || index > last, () => `inflights: ${index} after ${String(last)}`);
    this.indexes.push(index);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
  }

  /** Frees every message ending at or before `index` (acknowledged). */
  freeLE(index: LogIndex): void {
    while (this.head < this.indexes.length && (this.indexes[this.head] as LogIndex) <= index) {
      this.totalBytes -= this.sizes[this.head] as number;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.indexes.length) {
      this.indexes.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.head = 0;
    }
  }

  reset(): void {
    this.indexes.length = 0;
    this.sizes.length = 0;
    this.head = 0;
    this.totalBytes = 0;
  }
}
