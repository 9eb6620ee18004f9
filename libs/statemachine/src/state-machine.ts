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
import type { KeyEvent } from './engine/history';
import type { LeaseInfo, LeaseRecord } from './engine/lease-table';
import type { RangeRequest, RangeResponse } from './kv-types';
import type { SnapshotFileInfo } from './snapshot/snapshot-file';
import type { SnapshotStore } from './snapshot/snapshot-store';
import type { KvHash, StoreHash } from './snapshot/state-hash';

/** What changed in the store, told to change listeners in order (see `onChange`). */
export type StoreChange =
  /** An apply batch committed: its events (revision order, then write order) and the revisions after it. */
  | { readonly type: 'committed'; readonly events: readonly KeyEvent[]; readonly revision: number; readonly compactRevision: number }
  /** A snapshot replaced the whole state: what followed earlier changes must be read from the history again. */
  | { readonly type: 'restored'; readonly revision: number; readonly compactRevision: number };

/** A read of the history in revision order (watchers catching up). */
export interface HistoryReadRequest {
  /** First revision to read: at least the compacted revision (CompactedError otherwise). */
  readonly fromRevision: number;
  /** Last revision to read: at most the current revision (FutureRevisionError otherwise). */
  readonly toRevision: number;
  /** Only the events of keys it accepts (default: every key). */
  readonly keyFilter?: (key: Uint8Array) => boolean;
  /** Also read each event's previous record (left out where the history no longer holds it). */
  readonly prevKv?: boolean;
  /** Stop once this many events were read, at the end of a revision. */
  readonly maxEvents: number;
}

export interface HistoryReadResult {
  /** Events in revision order, then write order (etcd's sub-revisions). */
  readonly events: readonly KeyEvent[];
  /** The first revision not read: `toRevision + 1` when the read reached the end. */
  readonly nextRevision: number;
}

/** What the stored data takes. */
export interface StorageBytes {
  /** Bytes of live data (RocksDB: its live-data estimate plus the memtables). */
  readonly inUse: number;
}

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
  /** Leases as of the applied index, by id. */
  leases(): readonly LeaseRecord[];
  /** One lease with its attached keys (latin1 strings of the key bytes), or undefined. */
  lease(id: bigint): LeaseInfo | undefined;

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

  /**
   * Calls `listener` with every change, synchronously when it becomes visible (after the
   * batch's write, before `apply` resolves): a listener sees revisions in order without a gap,
   * and `revision()` equals the change's revision while it runs. A listener that throws fails
   * the apply (a bug: fatal). Returns the function that unsubscribes.
   */
  onChange(listener: (change: StoreChange) => void): () => void;

  /**
   * Reads events of the history in revision order. Throws CompactedError when `fromRevision`
   * is below the compacted revision, before or during the read (a compaction may overtake a
   * long read), and FutureRevisionError beyond the current revision.
   */
  readHistory(request: HistoryReadRequest): Promise<HistoryReadResult>;

  /**
   * etcd's HashKV: a CRC-32C of the key space at `revision` (0: the current one) — every
   * version a read at or above the compacted revision and at or below `revision` can reach —
   * at one point in time, equal on every member with the same applied state. Throws
   * CompactedError at or below the compacted revision, FutureRevisionError above the current
   * one. Streams the versions in small batches (never holds the event loop for long).
   */
  hashKv(revision: number): Promise<KvHash>;

  /**
   * etcd's Hash: a CRC-32C of the whole replicated state (what a snapshot holds, without the
   * applied index and term), at one point in time.
   */
  hashStore(): Promise<StoreHash>;

  /**
   * etcd's Defragment: gives the space of deleted and overwritten data back (RocksDB: a
   * compaction of every key range, one range per step, on a worker thread; applies and reads
   * go on meanwhile). Changes no data.
   */
  defragment(): Promise<void>;

  /** What the stored data takes (etcd's `dbSizeInUse`): an estimate, cheap to ask. */
  storageBytes(): StorageBytes;

  /** The snapshot directory (listing, sending, receiving). */
  readonly snapshots: SnapshotStore;

  /** Waits for running calls and releases resources; later calls throw StateMachineClosedError. */
  close(): Promise<void>;
}
