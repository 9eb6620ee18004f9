/**
 * Limits of the state machine (STYLE.md: a limit on everything).
 *
 * The "apply" limits change what an entry does (a command over a limit is rejected; a session
 * beyond `maxSessions` is evicted), so they must be identical on every member of a cluster,
 * like any other part of the replicated state machine's definition. The user-facing checks
 * with friendly messages (request size, key size, txn ops) are the app's job and should be
 * at or below these.
 */

export interface StateMachineLimits {
  // Apply limits: identical on every member.
  /** Largest key, bytes. */
  readonly maxKeyBytes: number;
  /** Largest value, bytes. */
  readonly maxValueBytes: number;
  /** Largest encoded command (entry payload), bytes. */
  readonly maxCommandBytes: number;
  /** Most compares, success ops or failure ops in one txn (each list); etcd's --max-txn-ops. */
  readonly maxTxnOps: number;
  /** Most ops and compares in one txn counting every nested txn. */
  readonly maxTxnTotalOps: number;
  /** Deepest txn nesting (1 = no nested txn allowed). */
  readonly maxTxnDepth: number;
  /** Largest range response (keys + values of returned kvs), bytes, inside or outside a txn. */
  readonly maxRangeResponseBytes: number;
  /** Most client sessions kept; the least recently used (by log index) is evicted beyond it. */
  readonly maxSessions: number;
  /** A session idle longer than this (log time, ms) is dropped. */
  readonly sessionTtlMs: number;
  /** Largest outcome a session remembers; a retry of a larger one gets ResponseNotRetainedError. */
  readonly maxRememberedResponseBytes: number;
  /** Largest ConfChange context (member name and URLs), bytes. */
  readonly maxMemberContextBytes: number;

  // Local limits: may differ between members.
  /** Most entries written in one RocksDB write batch; a larger apply call is split. */
  readonly maxApplyBatchEntries: number;
  /** Target payload size of a snapshot chunk, bytes. */
  readonly snapshotChunkBytes: number;
  /** Largest chunk accepted when reading or receiving a snapshot, bytes. */
  readonly maxSnapshotChunkBytes: number;
  /** Largest snapshot header (membership) accepted, bytes. */
  readonly maxSnapshotHeaderBytes: number;
  /** Snapshot files kept in the snapshot directory (older ones are deleted). */
  readonly snapshotsRetained: number;
  /** Memory for committed records kept to spare apply RocksDB reads (RecordCache), bytes. */
  readonly recordCacheBytes: number;
  /** Writes of revision records one step of a physical compaction handles (RocksCompactor). */
  readonly compactionStepWrites: number;
}

export const DEFAULT_LIMITS: StateMachineLimits = {
  maxKeyBytes: 64 * 1024,
  maxValueBytes: 2 * 1024 * 1024,
  maxCommandBytes: 4 * 1024 * 1024,
  maxTxnOps: 1024,
  maxTxnTotalOps: 4096,
  maxTxnDepth: 8,
  maxRangeResponseBytes: 64 * 1024 * 1024,
  maxSessions: 10_000,
  sessionTtlMs: 60 * 60 * 1000,
  maxRememberedResponseBytes: 64 * 1024,
  maxMemberContextBytes: 8 * 1024,
  maxApplyBatchEntries: 4096,
  snapshotChunkBytes: 1024 * 1024,
  maxSnapshotChunkBytes: 64 * 1024 * 1024,
  maxSnapshotHeaderBytes: 16 * 1024 * 1024,
  snapshotsRetained: 2,
  recordCacheBytes: 64 * 1024 * 1024,
  compactionStepWrites: 1000,
};

/** Fills in defaults and checks every limit is a positive safe integer. Throws RangeError. */
export function resolveLimits(overrides: Partial<StateMachineLimits> = {}): StateMachineLimits {
  const limits: StateMachineLimits = { ...DEFAULT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new RangeError(`state machine limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.snapshotChunkBytes > limits.maxSnapshotChunkBytes) {
    throw new RangeError('snapshotChunkBytes must not exceed maxSnapshotChunkBytes');
  }
  return limits;
}
