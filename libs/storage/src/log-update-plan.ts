/**
 * Validation of writes against the log they will land on, shared by every LogStore so that
 * all of them accept and refuse exactly the same writes (the rules of raft's MemoryStorage).
 * Validation never mutates: a refused write changes nothing.
 */
import { invariant } from '@keyval/raft';
import type { Entry, LogIndex, SnapshotMeta, Term } from '@keyval/raft';
import type { LogUpdate } from './log-store';

/** The reads validation needs: the log as it will be when the write takes its place. */
export interface LogShape {
  snapshotMeta(): SnapshotMeta;
  lastIndex(): LogIndex;
  term(index: LogIndex): Term;
}

/** What a validated LogUpdate will do. */
export interface UpdatePlan {
  /**
   * For an update carrying a snapshot: true when the log holds the entry (snapshot.index,
   * snapshot.term) after the current snapshot, so the suffix after it is kept (§7).
   */
  readonly keepSuffix: boolean;
}

/**
 * Checks `update` against `log` and decides what its snapshot does. Throws RaftInvariantError
 * for an older snapshot, non-contiguous entries, entries at or before the (new) snapshot, or
 * entries that would leave a gap.
 */
export function planUpdate(log: LogShape, update: LogUpdate): UpdatePlan {
  const current = log.snapshotMeta();
  let snapshotIndex: number = current.index;
  let lastIndex: number = log.lastIndex();
  let keepSuffix = false;
  const snapshot = update.snapshot;
  if (snapshot !== undefined) {
    invariant(snapshot.index >= current.index, () => `snapshot ${snapshot.index} is older than ${current.index}`);
    keepSuffix = snapshot.index > current.index && snapshot.index <= lastIndex && log.term(snapshot.index) === snapshot.term;
    snapshotIndex = snapshot.index;
    lastIndex = keepSuffix ? lastIndex : snapshot.index;
  }
  const entries = update.entries ?? [];
  const first = entries[0];
  if (first !== undefined) {
    invariant(first.index > snapshotIndex, () => `append at ${first.index} is at or before snapshot ${snapshotIndex}`);
    invariant(first.index <= lastIndex + 1, () => `append at ${first.index} leaves a gap after ${lastIndex}`);
    assertContiguous(entries);
  }
  return { keepSuffix };
}

/**
 * Checks a compaction to `meta` against `log`. Returns false when it is a no-op (meta.index is
 * not after the current snapshot). Throws RaftInvariantError when meta.index is beyond the
 * last index or the log's term there differs from meta.term.
 */
export function planCompact(log: LogShape, meta: SnapshotMeta): boolean {
  if (meta.index <= log.snapshotMeta().index) {
    return false;
  }
  invariant(meta.index <= log.lastIndex(), () => `compact to ${meta.index} beyond last index ${log.lastIndex()}`);
  const term = log.term(meta.index);
  invariant(term === meta.term, () => `compact to ${meta.index} with term ${meta.term} but the log has ${term}`);
  return true;
}

function assertContiguous(entries: readonly Entry[]): void {
  for (let k = 1; k < entries.length; k++) {
    const previous = entries[k - 1] as Entry;
    const entry = entries[k] as Entry;
    invariant(entry.index === previous.index + 1, () => `appended entries are not contiguous: ${entry.index} follows ${previous.index}`);
  }
}
