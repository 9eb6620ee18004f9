/**
 * The log as the core sees it: stable storage (read-only) overlaid by the unstable part, plus
 * the commit and apply cursors.
 *
 *     storage:   snapshot | first ............ last
 *     unstable:                      offset ......... lastIndex()
 *     cursors:   applied <= applying <= committed <= lastIndex()
 */
import { LogCompactedError, LogUnavailableError, invariant } from './errors';
import type { RaftStorage } from './storage';
import { UnstableLog } from './unstable-log';
import { entryBytes } from './types';
import type { Entry, LogIndex, SnapshotMeta, Term } from './types';

export class RaftLog {
  readonly unstable: UnstableLog;
  /** Highest index known committed (§5.3). Never decreases. */
  committed: LogIndex;
  /** Highest index handed to the driver for application. */
  applying: LogIndex;

  constructor(
    readonly storage: RaftStorage,
    applied: LogIndex,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog((last + 1) as LogIndex);
    this.committed = storage.hardState().commit;
    const floor = (first - 1) as LogIndex;
    // The state machine may be ahead of the persisted commit (commit is persisted lazily).
    this.applying = applied > floor ? applied : floor;
    if (this.committed < this.applying) {
      this.committed = this.applying;
    }
    invariant(this.committed <= last, () => `commit ${this.committed} is beyond the last index ${last}`);
  }

  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term at `index`, or undefined when it is compacted or beyond the log. */
  term(index: LogIndex): Term | undefined {
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) {
      return t;
    }
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) {
      return undefined;
    }
    if (index >= this.unstable.offset) {
      return undefined;
    }
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof LogCompactedError || error instanceof LogUnavailableError) {
        return undefined;
      }
      throw error;
    }
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    invariant(t !== undefined, 'the last entry has no term');
    return t;
  }

  matchTerm(index: LogIndex, entryTerm: Term): boolean {
    return this.term(index) === entryTerm;
  }

  /** §5.4.1 election restriction: is a log ending at (index, term) at least as up to date? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The first index among `entries` that is new or conflicts with the log, or 0 when all are
   * already present. A conflict is the same index with a different term (§5.3).
   */
  findConflict(entries: readonly Entry[]): LogIndex {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) {
        return entry.index;
      }
    }
    return 0 as LogIndex;
  }

  /**
   * The largest index <= `index` whose term is <= `atMostTerm` (0 when none is known): where
   * a log with `atMostTerm` at `index` may first agree with this one. Used for conflict hints.
   */
  findConflictByTerm(index: LogIndex, atMostTerm: Term): LogIndex {
    let i = index;
    while (i > 0) {
      const t = this.term(i);
      if (t === undefined || t <= atMostTerm) {
        break;
      }
      i = (i - 1) as LogIndex;
    }
    return i;
  }

  /**
   * Follower side of AppendEntries (§5.3): if the log matches at (prevIndex, prevTerm), adds
   * what is new in `entries` (truncating any conflicting suffix), advances commit to
   * min(leaderCommit, last new index) and returns the last new index; otherwise undefined.
   */
  maybeAppend(prevIndex: LogIndex, prevTerm: Term, leaderCommit: LogIndex, entries: readonly Entry[]): { lastNew: LogIndex; appended: readonly Entry[] } | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) {
      return undefined;
    }
    const lastNew = (prevIndex + entries.length) as LogIndex;
    const conflict = this.findConflict(entries);
    let appended: readonly Entry[] = [];
    if (conflict !== 0) {
      invariant(conflict > this.committed, () => `entry ${conflict} conflicts with committed entry (commit ${this.committed})`);
      appended = entries.slice(conflict - prevIndex - 1);
      this.append(appended);
    }
    this.commitTo(Math.min(leaderCommit, lastNew) as LogIndex);
    return { lastNew, appended };
  }

  /** Appends entries (replacing any suffix from entries[0].index); returns the new last index. */
  append(entries: readonly Entry[]): LogIndex {
    const first = entries[0];
    if (first === undefined) {
      return this.lastIndex();
    }
    invariant(first.index - 1 >= this.committed, () => `append at ${first.index} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** Entries in [lo, hi) up to `maxBytes` (at least one). Throws LogCompactedError when lo is compacted. */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    if (lo >= hi) {
      return [];
    }
    const first = this.firstIndex();
    if (lo < first) {
      throw new LogCompactedError(lo, first);
    }
    invariant(hi <= this.lastIndex() + 1, () => `slice [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      out = this.storage.entries(lo, Math.min(hi, offset) as LogIndex, maxBytes);
      if (out.length < Math.min(hi, offset) - lo) {
        return out;
      }
    }
    if (hi > offset) {
      const from = Math.max(lo, offset) as LogIndex;
      let bytes = 0;
      for (const entry of out) {
        bytes += entryBytes(entry);
      }
      for (const entry of this.unstable.slice(from, hi)) {
        bytes += entryBytes(entry);
        if (out.length > 0 && bytes > maxBytes) {
          break;
        }
        out.push(entry);
      }
    }
    return out;
  }

  commitTo(index: LogIndex): void {
    if (index > this.committed) {
      invariant(index <= this.lastIndex(), () => `commit ${index} is beyond the last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** §5.4.2: commit `index` only if its entry is from `currentTerm`. */
  maybeCommit(index: LogIndex, currentTerm: Term): boolean {
    if (index > this.committed && this.term(index) === currentTerm) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying && this.unstable.snapshot === undefined;
  }

  /** Committed entries not yet handed out, up to `maxBytes` (at least one). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) {
      return [];
    }
    return this.slice((this.applying + 1) as LogIndex, (this.committed + 1) as LogIndex, maxBytes);
  }

  appliedTo(index: LogIndex): void {
    invariant(index <= this.committed, () => `applied ${index} beyond commit ${this.committed}`);
    if (index > this.applying) {
      this.applying = index;
    }
  }

  /** Replaces the log with a snapshot received from the leader (§7). */
  restore(snapshot: SnapshotMeta): void {
    this.committed = snapshot.index;
    this.applying = snapshot.index;
    this.unstable.restore(snapshot);
  }
}
