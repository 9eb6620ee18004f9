/**
 * The leader's view of one follower's log (dissertation §3.5, etcd's tracker.Progress).
 *
 *     Probe ----(append accepted)----> Replicate
 *       ^  \                              |
 *       |   \--(next compacted)--> Snapshot <--(next compacted)--/
 *       |                            |
 *       \----(snapshot reported / rejected append)----/
 *
 * Invariant: 0 <= match < next. In Probe the leader sends one Append per heartbeat interval
 * until it learns where the logs agree; in Replicate it pipelines within the inflight window;
 * in Snapshot it sends nothing until the driver reports the snapshot transfer.
 */
import { invariant } from './errors';
import { Inflights } from './inflights';
import type { LogIndex } from './types';

export enum ProgressState {
  Probe = 'probe',
  Replicate = 'replicate',
  Snapshot = 'snapshot',
}

export class Progress {
  /** Highest index known replicated on the follower. */
  match: LogIndex = 0 as LogIndex;
  /** Next index to send. */
  next: LogIndex;
  state: ProgressState = ProgressState.Probe;
  /** Probe: a probe is outstanding; wait for a response or the next heartbeat response. */
  probeSent = false;
  /** Snapshot: the index of the snapshot being sent. */
  pendingSnapshot: LogIndex = 0 as LogIndex;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** The leader's tick when it last heard from the follower (-1: never in this term). */
  lastActiveTick = -1;
  /** Highest heartbeat round the follower has echoed. */
  ackedRound = 0;
  /** Commit index last sent to this follower. */
  sentCommit: LogIndex = 0 as LogIndex;
  readonly inflights: Inflights;

  constructor(
    next: LogIndex,
    maxInflightMessages: number,
    maxInflightBytes: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0 as LogIndex;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1) as LogIndex;
    } else {
      this.resetState(ProgressState.Probe);
      this.next = (this.match + 1) as LogIndex;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = (this.match + 1) as LogIndex;
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged `index`. Returns whether match advanced. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) {
      this.next = (index + 1) as LogIndex;
    }
    this.checkInvariant();
    return updated;
  }

  /**
   * The follower rejected an Append whose prevLogIndex was `rejected`; `hint` is the highest
   * index that may match. Returns false when the rejection is stale (already superseded).
   */
  maybeDecrTo(rejected: LogIndex, hint: LogIndex): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) {
        return false;
      }
      this.next = (this.match + 1) as LogIndex;
      return true;
    }
    if (this.next - 1 !== rejected) {
      return false;
    }
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1) as LogIndex;
    this.probeSent = false;
    this.checkInvariant();
    return true;
  }

  /** Records that an Append ending at `lastIndex` with `bytes` of entries was sent. */
  sentEntries(lastIndex: LogIndex, entryCount: number, bytes: number): void {
    switch (this.state) {
      case ProgressState.Replicate:
        if (entryCount > 0) {
          this.next = (lastIndex + 1) as LogIndex;
          this.inflights.add(lastIndex, bytes);
        }
        break;
      case ProgressState.Probe:
        this.probeSent = true;
        break;
      case ProgressState.Snapshot:
        invariant(false, 'sending entries while in snapshot state');
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  private checkInvariant(): void {
    invariant(this.match < this.next, () => `progress: match ${this.match} must be < next ${this.next}`);
  }
}
