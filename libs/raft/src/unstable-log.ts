/**
 * The part of the log not yet on stable storage: at most one incoming snapshot, then entries.
 *
 *     [snapshot?] offset | offset+1 | ... | offset+len-1
 *
 * Invariants: when a snapshot is present, offset == snapshot.index + 1; entries are
 * contiguous from offset. Entries at or after `offset` override whatever storage holds there
 * (a pending truncation) until the driver has persisted them.
 */
import { invariant } from './errors';
import type { Entry, LogIndex, SnapshotMeta, Term } from './types';

export class UnstableLog {
  snapshot: SnapshotMeta | undefined = undefined;
  entries: Entry[] = [];
  /** Index of entries[0] (or where the next entry would go). */
  offset: LogIndex;

  constructor(offset: LogIndex) {
    this.offset = offset;
  }

  /** The first index this part knows, only when it holds a snapshot. */
  maybeFirstIndex(): LogIndex | undefined {
    return this.snapshot === undefined ? undefined : ((this.snapshot.index + 1) as LogIndex);
  }

  maybeLastIndex(): LogIndex | undefined {
    if (this.entries.length > 0) {
      return (this.offset + this.entries.length - 1) as LogIndex;
    }
    return this.snapshot?.index;
  }

  /** The term at `index` if this part knows it. */
  maybeTerm(index: LogIndex): Term | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.index === index) {
        return this.snapshot.term;
      }
      return undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /** The driver persisted entries up to (index, term): drop them, unless they were replaced meanwhile. */
  stableTo(index: LogIndex, entryTerm: Term): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== entryTerm || index < this.offset) {
      return;
    }
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = (index + 1) as LogIndex;
  }

  stableSnapshotTo(index: LogIndex): void {
    if (this.snapshot !== undefined && this.snapshot.index === index) {
      this.snapshot = undefined;
    }
  }

  restore(snapshot: SnapshotMeta): void {
    this.offset = (snapshot.index + 1) as LogIndex;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends `entries`, replacing any entries at or after entries[0].index. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) {
      return;
    }
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (after <= this.offset) {
      // Replaces everything unstable (and, once persisted, storage's suffix from `after`).
      invariant(this.snapshot === undefined || after > this.snapshot.index, 'unstable append before the pending snapshot');
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      this.entries.push(...entries);
    }
  }

  /** Entries in [lo, hi), which must lie within this part. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    invariant(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi, () => `unstable slice [${lo}, ${hi}) outside [${this.offset}, ${this.offset + this.entries.length})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
