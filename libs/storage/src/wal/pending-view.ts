/**
 * The log as it will be once every accepted write is durable: the durable log plus the effect
 * of the writes still buffered or in flight. New writes are validated against this view (so
 * concurrent appenders can each append after the previous one) while reads keep answering from
 * the durable log.
 *
 * Representation: the snapshot the pending writes lead to, a prefix of the durable log that
 * survives them, (snapshot.index, durableHi], and the entries they add after it (`tail`).
 * Invariants: snapshot.index <= durableHi; durableHi <= durable.lastIndex() unless the range is
 * empty (snapshot.index === durableHi).
 */
import { LogCompactedError, LogUnavailableError, invariant } from '@keyval/raft';
import type { Entry, LogIndex, SnapshotMeta, Term } from '@keyval/raft';
import type { LogShape } from '../log-update-plan';
import type { DurableLog } from './durable-log';

/** Consumed tail slots before the tail array is compacted. */
const COMPACT_AFTER_SLOTS = 1024;

/** The durable log plus every accepted write (see the file comment). */
export class PendingView implements LogShape {
  private snapshot!: SnapshotMeta;
  private durableHi = 0;
  private tail: Entry[] = [];
  private tailHead = 0;

  constructor(private readonly durable: DurableLog) {
    this.reset();
  }

  /** Forgets the pending writes: the view equals the durable log again. */
  reset(): void {
    this.snapshot = this.durable.snapshotMeta();
    this.durableHi = this.durable.lastIndex();
    this.tail = [];
    this.tailHead = 0;
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  lastIndex(): LogIndex {
    return (this.durableHi + this.tail.length - this.tailHead) as LogIndex;
  }

  term(index: LogIndex): Term {
    if (index === this.snapshot.index) {
      return this.snapshot.term;
    }
    if (index < this.snapshot.index) {
      throw new LogCompactedError(index, (this.snapshot.index + 1) as LogIndex);
    }
    if (index <= this.durableHi) {
      return this.durable.term(index);
    }
    const entry = this.tail[this.tailHead + index - this.durableHi - 1];
    if (entry === undefined) {
      throw new LogUnavailableError(index, this.lastIndex());
    }
    return entry.term;
  }

  /** Records an accepted snapshot (validated by planUpdate / planCompact). */
  applySnapshot(meta: SnapshotMeta, keepSuffix: boolean): void {
    if (keepSuffix) {
      invariant(meta.index <= this.lastIndex(), () => `pending snapshot ${meta.index} past ${this.lastIndex()}`);
      if (meta.index > this.durableHi) {
        this.tailHead += meta.index - this.durableHi;
        this.durableHi = meta.index;
      }
    } else {
      this.durableHi = meta.index;
      this.tail = [];
      this.tailHead = 0;
    }
    this.snapshot = meta;
  }

  /** Records accepted entries (validated by planUpdate). */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) {
      return;
    }
    if (first.index <= this.durableHi) {
      this.durableHi = first.index - 1;
      this.tail = [];
      this.tailHead = 0;
    } else {
      this.tail.length = this.tailHead + (first.index - this.durableHi - 1);
    }
    for (const entry of entries) {
      this.tail.push(entry);
    }
  }

  /**
   * Called after a batch became durable while later writes are still pending: tail entries that
   * the durable log now holds with the same term move into the durable prefix, so the tail stays
   * as short as the writes in flight. Terms are all this view answers, and they stay right: a
   * pending write that changes the term at an index is already in the tail at that index (so
   * the terms differ and the scan stops there).
   */
  settle(): void {
    const durableLast = this.durable.lastIndex();
    while (this.tailHead < this.tail.length && this.durableHi < durableLast && this.durable.term((this.durableHi + 1) as LogIndex) === (this.tail[this.tailHead] as Entry).term) {
      this.tailHead++;
      this.durableHi++;
    }
    if (this.tailHead === this.tail.length) {
      this.tail = [];
      this.tailHead = 0;
    } else if (this.tailHead >= COMPACT_AFTER_SLOTS) {
      this.tail = this.tail.slice(this.tailHead);
      this.tailHead = 0;
    }
  }
}
