/**
 * What the core asks its driver to do, and the order the driver must do it in.
 *
 *     ready = node.ready()
 *     1. send ready.earlyMessages          (any time, even before step 2 finishes)
 *     2. persist: ready.snapshot (install), ready.entries (append, truncating any suffix
 *        they replace), ready.hardState; fsync when ready.mustSync
 *     3. send ready.messages               (only after step 2 is durable)
 *     4. apply ready.committedEntries      (in order, only after step 2 is durable)
 *     5. serve ready.readStates            (once applied >= readState.index)
 *     node.advance(ready)
 *
 * No other `ready()` may be taken until `advance` is called; `step`, `tick` and proposals may
 * continue in between and their effects come out in the next Ready.
 */
import type { Message } from './messages';
import type { Entry, HardState, LogIndex, NodeId, SnapshotMeta } from './types';

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile state worth reporting (not persisted): who leads, and this member's role. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** A ReadIndex result (§6.4): the read identified by `context` may be served once the state
 * machine has applied `index`. */
export interface ReadState {
  readonly context: string;
  readonly index: LogIndex;
}

export interface Ready {
  /** Set when leader or role changed since the last Ready. Informational. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed: persist before sending `messages`. */
  readonly hardState: HardState | undefined;
  /**
   * Entries to append to stable storage, in order. If entries[0].index <= the stored last
   * index, the stored entries from there on are replaced (follower repair, §5.3).
   */
  readonly entries: readonly Entry[];
  /**
   * A snapshot to install: restore the state machine from the snapshot data received for it,
   * then record it in the log store (which keeps the log suffix after it only if the entry at
   * snapshot.index has snapshot.term, §7). Persist before `entries`.
   */
  readonly snapshot: SnapshotMeta | undefined;
  /** Committed entries to apply in order, after this Ready's writes are durable. */
  readonly committedEntries: readonly Entry[];
  /**
   * Messages that do not depend on this Ready's writes: the leader's replication, heartbeats
   * and snapshots (a leader may send entries before its own disk write, dissertation §10.2.1).
   * They may be sent at once, concurrently with persisting.
   */
  readonly earlyMessages: readonly Message[];
  /**
   * Messages that must not leave before this Ready's hard state, entries and snapshot are
   * durable: votes, vote requests and acknowledgements of appended entries.
   */
  readonly messages: readonly Message[];
  /** Reads that may be served once applied >= index. */
  readonly readStates: readonly ReadState[];
  /** Contexts of reads that can no longer be confirmed (leadership changed): retry them. */
  readonly failedReads: readonly string[];
  /** True when entries or a term/vote change must be fsynced before step 3. */
  readonly mustSync: boolean;
}
