/**
 * The state-machine contract (STYLE.md: "the state machine (apply, snapshot, restore)").
 * Implementations: MemoryStateMachine (tests, simulation) and RocksStateMachine (members);
 * both pass the conformance suite in state-machine-conformance.test.ts.
 *
 * Driver order (see libs/raft ready.ts): apply `ready.committedEntries` in order, after they
 * are durable in the log; serve a read once `appliedIndex() >= readState.index`; on an
 * InstallSnapshot, receive the file through `snapshots.receiver()`, then `restore` it.
 */
import type { Entry, LogIndex, Term } from '@keyval/raft';
import type { ApplyResult, MembershipState, SessionInfo } from './command-types';
import type { RangeRequest, RangeResponse } from './kv-types';
import type { SnapshotFileInfo } from './snapshot/snapshot-file';
import type { SnapshotStore } from './snapshot/snapshot-store';

export interface StateMachine {
  /** Index of the last applied entry; 0 before any. Durable in RocksStateMachine. */
  appliedIndex(): LogIndex;
  /** Term of the last applied entry. */
  appliedTerm(): Term;
  /** The store revision (1 for an empty store, as in etcd). */
  revision(): number;
  /**
   * The compacted revision: reads below it fail with CompactedError (-1 before the first
   * compaction, as etcd reports it).
   */
  compactRevision(): number;
  /**
   * Resolves once the history no read at or above the compacted revision `revision` can see
   * has been deleted (etcd's physical compaction). Compactions apply at once for reads; the
   * deletion follows in the background.
   */
  compacted(revision: number): Promise<void>;
  /** Log time: the largest command timestamp applied (ms). */
  logTimeMs(): number;
  /** Raft configuration and members table as of the applied index. */
  membership(): MembershipState;
  /** Client sessions, least recently used first. */
  sessions(): readonly SessionInfo[];

  /**
   * Applies committed entries, which must continue the applied index without a gap
   * (ApplyOrderError otherwise, before anything is applied). Returns one result per entry.
   * Calls are serialized. The entries' effects, the applied index and term, the revision, the
   * sessions and the membership become visible together, and in RocksStateMachine durable
   * together (one write batch; `maxApplyBatchEntries` per batch). A storage failure is fatal:
   * it rejects, and every later call throws StateMachineFailedError.
   */
  apply(entries: readonly Entry[]): Promise<ApplyResult[]>;

  /**
   * A range read of the applied state, at one point in time, with the revision of that point;
   * with `request.revision`, the keys as they were at that revision. Throws
   * RangeTooLargeError over `maxRangeResponseBytes`, CompactedError below the compacted
   * revision, FutureRevisionError above the current one.
   */
  range(request: RangeRequest): Promise<RangeResponse>;

  /**
   * Writes a snapshot of the applied state (a consistent point in time; applies may continue
   * meanwhile) into `snapshots`, pruning old ones, and returns it.
   */
  createSnapshot(): Promise<SnapshotFileInfo>;

  /**
   * Replaces the whole state with a snapshot file's, atomically: after a crash at any step
   * the machine reopens with either the old state or the snapshot's, never a mix. Verifies
   * every checksum first (SnapshotCorruptError / SnapshotTruncatedError leave the state
   * unchanged).
   */
  restore(file: string): Promise<SnapshotFileInfo>;

  /** The snapshot directory (listing, sending, receiving). */
  readonly snapshots: SnapshotStore;

  /** Waits for running calls and releases resources; later calls throw StateMachineClosedError. */
  close(): Promise<void>;
}
