/**
 * The most recent entries of the log, as objects, up to a byte budget. The cache is always a
 * suffix of the log: it holds the indexes [first, last] with `last` the log's last index (or
 * nothing). Older entries are read back from their segment files.
 */
import { entryBytes, invariant } from '@keyval/raft';
import type { Entry } from '@keyval/raft';

/** Slots freed at the front before the array is compacted. */
const COMPACT_AFTER_SLOTS = 4096;

/** A byte-bounded suffix of the log, as entry objects. */
export class EntryCache {
  /** Slots before `head` are evicted (undefined, so they hold no memory). */
  private items: (Entry | undefined)[] = [];
  private head = 0;
  /** Bytes (entryBytes) of the cached entries; at most bytesMax after every push. */
  private cachedBytes = 0;

  constructor(private readonly bytesMax: number) {
    invariant(bytesMax >= 0, 'cache budget must not be negative');
  }

  get bytes(): number {
    return this.cachedBytes;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** Index of the first cached entry (meaningless when empty). */
  get first(): number {
    const entry = this.items[this.head];
    return entry === undefined ? Number.POSITIVE_INFINITY : entry.index;
  }

  get(index: number): Entry | undefined {
    const entry = this.items[this.head];
    if (entry === undefined || index < entry.index) {
      return undefined;
    }
    return this.items[this.head + (index - entry.index)];
  }

  /** Adds the entry after the last cached one (or starts the cache), then evicts old ones. */
  push(entry: Entry): void {
    const last = this.items[this.items.length - 1];
    if (last !== undefined && this.size > 0) {
      invariant(entry.index === last.index + 1, () => `cache push of ${entry.index} after ${last.index}`);
    }
    this.items.push(entry);
    this.cachedBytes += entryBytes(entry);
    while (this.cachedBytes > this.bytesMax && this.size > 0) {
      this.dropFirst();
    }
  }

  /** Forgets the entries at and after `index`. */
  truncateFrom(index: number): void {
    while (this.size > 0 && (this.items[this.items.length - 1] as Entry).index >= index) {
      this.cachedBytes -= entryBytes(this.items.pop() as Entry);
    }
    this.normalize();
  }

  /** Forgets the entries at and before `index`. */
  dropThrough(index: number): void {
    while (this.size > 0 && (this.items[this.head] as Entry).index <= index) {
      this.dropFirst();
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.cachedBytes = 0;
  }

  private dropFirst(): void {
    this.cachedBytes -= entryBytes(this.items[this.head] as Entry);
    this.items[this.head] = undefined;
    this.head++;
    this.normalize();
  }

  private normalize(): void {
    if (this.size === 0) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER_SLOTS && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
