/**
 * An in-memory RaftStorage with synchronous writes, for tests and the simulation. Durable
 * stores live in libs/storage; they pass the same conformance suite.
 */
import { LogCompactedError, LogUnavailableError, invariant } from './errors';
import type { RaftStorage } from './storage';
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT, entryBytes } from './types';
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from './types';

export class MemoryStorage implements RaftStorage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snapshot: SnapshotMeta = EMPTY_SNAPSHOT;
  /** Entries after the snapshot: log[k] has index snapshot.index + 1 + k. */
  private log: Entry[] = [];

  hardState(): HardState {
    return this.hard;
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  firstIndex(): LogIndex {
    return (this.snapshot.index + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return (this.snapshot.index + this.log.length) as LogIndex;
  }

  term(index: LogIndex): Term {
    if (index === this.snapshot.index) {
      return this.snapshot.term;
    }
    if (index < this.snapshot.index) {
      throw new LogCompactedError(index, this.firstIndex());
    }
    const entry = this.log[index - this.snapshot.index - 1];
    if (entry === undefined) {
      throw new LogUnavailableError(index, this.lastIndex());
    }
    return entry.term;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) {
      throw new LogCompactedError(lo, this.firstIndex());
    }
    if (hi > this.lastIndex() + 1) {
      throw new LogUnavailableError((hi - 1) as LogIndex, this.lastIndex());
    }
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.log[i - this.snapshot.index - 1] as Entry;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) {
        break;
      }
      out.push(entry);
    }
    return out;
  }

  /** All entries after the snapshot (for tests and checkers). */
  allEntries(): readonly Entry[] {
    return this.log;
  }

  setHardState(hardState: HardState): void {
    this.hard = hardState;
  }

  /**
   * Appends entries, first truncating any existing entries at or after entries[0].index (the
   * follower-repair case, §5.3). Entries must be contiguous and must not leave a gap.
   */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) {
      return;
    }
    invariant(first.index > this.snapshot.index, () => `append at ${first.index} is at or before snapshot ${this.snapshot.index}`);
    invariant(first.index <= this.lastIndex() + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (let k = 1; k < entries.length; k++) {
      invariant((entries[k] as Entry).index === (entries[k - 1] as Entry).index + 1, 'appended entries are not contiguous');
    }
    this.log.length = first.index - this.snapshot.index - 1;
    for (const entry of entries) {
      this.log.push(entry);
    }
  }

  /**
   * Installs a snapshot received from the leader: drops every entry, unless the log holds an
   * entry matching the snapshot's index and term, in which case the entries after it stay (§7).
   */
  applySnapshot(meta: SnapshotMeta): void {
    invariant(meta.index >= this.snapshot.index, () => `snapshot ${meta.index} is older than ${this.snapshot.index}`);
    let keep: Entry[] = [];
    if (meta.index <= this.lastIndex() && meta.index > this.snapshot.index && this.term(meta.index) === meta.term) {
      keep = this.log.slice(meta.index - this.snapshot.index);
    }
    this.log = keep;
    this.snapshot = meta;
  }

  /**
   * Discards entries up to and including `meta.index`, which must be in the log: the state
   * machine has a snapshot there (log compaction, §7).
   */
  compact(meta: SnapshotMeta): void {
    if (meta.index <= this.snapshot.index) {
      return;
    }
    invariant(meta.index <= this.lastIndex(), () => `compact to ${meta.index} beyond last index ${this.lastIndex()}`);
    invariant(this.term(meta.index) === meta.term, () => `compact to ${meta.index} with term ${meta.term} but the log has ${this.term(meta.index)}`);
    this.log = this.log.slice(meta.index - this.snapshot.index);
    this.snapshot = meta;
  }
}
