/**
 * The log store as the core sees it: read-only, synchronous. The driver writes to the store
 * (append, hard state, snapshot, compaction) while handling a Ready, and only then calls
 * `advance`; the core reads back through this interface. Reads must be synchronous because
 * the core is: durable implementations keep what the core reads (the entries after the latest
 * snapshot, or an index into them) in memory.
 *
 * Layout of a store's log, after a snapshot at index S with term T:
 *
 *     snapshot (S, T) | S+1 | S+2 | ... | last
 *                       ^ firstIndex()     ^ lastIndex()
 *
 * `term(S)` answers T; `term(i)` for i < S throws LogCompactedError; for i > last it throws
 * LogUnavailableError. An empty store has S = 0, T = 0, firstIndex 1, lastIndex 0.
 */
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from './types';

export interface RaftStorage {
  /** Hard state as last persisted (EMPTY_HARD_STATE for a new store). */
  hardState(): HardState;
  /** Metadata of the latest snapshot (EMPTY_SNAPSHOT when there is none). */
  snapshotMeta(): SnapshotMeta;
  /** Index of the first entry still in the log: snapshotMeta().index + 1. */
  firstIndex(): LogIndex;
  /** Index of the last entry, or the snapshot index when the log after it is empty. */
  lastIndex(): LogIndex;
  /** Term of the entry at `index`; see the interface comment for the edges. */
  term(index: LogIndex): Term;
  /**
   * Entries in [lo, hi), stopping early once their total size (entryBytes) would pass
   * `maxBytes` — but always at least one entry when lo < hi. Throws LogCompactedError when
   * lo < firstIndex and LogUnavailableError when hi > lastIndex + 1.
   */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[];
}
