/**
 * ReadIndex bookkeeping on the leader (§6.4). A read is recorded with the commit index at
 * arrival and the heartbeat round that will confirm leadership; once a quorum of voters has
 * echoed that round (or a later one), the read and every earlier one are released.
 */
import { ProposalDroppedError, invariant } from './errors';
import type { LogIndex, NodeId } from './types';

export interface PendingRead {
  readonly context: string;
  /** The commit index when the read arrived: serve once applied >= index. */
  readonly index: LogIndex;
  /** Who asked: the leader itself or a follower that forwarded it. */
  readonly from: NodeId;
  /** The heartbeat round whose quorum acknowledgement confirms the read. */
  readonly round: number;
}

export class ReadIndexQueue {
  private reads: PendingRead[] = [];
  private head = 0;

  constructor(readonly maxPending: number) {}

  get length(): number {
    return this.reads.length - this.head;
  }

  add(read: PendingRead): void {
    if (this.length >= this.maxPending) {
      throw new ProposalDroppedError(`too many pending reads (${this.maxPending})`);
    }
    const last = this.reads[this.reads.length - 1];
    invariant(this.length === 0 || last === undefined || read.round >= last.round, 'read rounds must not decrease');
    this.reads.push(read);
  }

  /** Removes and returns every read confirmed by a quorum acknowledging `ackedRound`. */
  release(ackedRound: number): PendingRead[] {
    const out: PendingRead[] = [];
    while (this.head < this.reads.length && (this.reads[this.head] as PendingRead).round <= ackedRound) {
      out.push(this.reads[this.head] as PendingRead);
      this.head++;
    }
    if (this.head > 0 && this.head === this.reads.length) {
      this.reads = [];
      this.head = 0;
    }
    return out;
  }

  /** Removes and returns every pending read (leadership lost: they must be retried). */
  drain(): PendingRead[] {
    const out = this.reads.slice(this.head);
    this.reads = [];
    this.head = 0;
    return out;
  }
}
