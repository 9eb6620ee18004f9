/**
 * The membership configuration in effect and, on the leader, a Progress per member. Also
 * tallies votes during elections. The configuration is the latest one in the log, committed
 * or not (dissertation §4.1: a change takes effect when appended).
 */
import { Progress } from './progress';
import { quorumMinimum, quorumSize, voteResult } from './quorum';
import type { VoteResult } from './quorum';
import type { LogIndex, MembershipConfig, NodeId } from './types';

export class ProgressTracker {
  config: MembershipConfig;
  private voterSet: Set<NodeId>;
  private learnerSet: Set<NodeId>;
  readonly progress = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  constructor(
    config: MembershipConfig,
    private readonly maxInflightMessages: number,
    private readonly maxInflightBytes: number,
  ) {
    this.config = config;
    this.voterSet = new Set(config.voters);
    this.learnerSet = new Set(config.learners);
  }

  isVoter(id: NodeId): boolean {
    return this.voterSet.has(id);
  }

  isLearner(id: NodeId): boolean {
    return this.learnerSet.has(id);
  }

  isMember(id: NodeId): boolean {
    return this.voterSet.has(id) || this.learnerSet.has(id);
  }

  /** Every member, voters first. */
  members(): NodeId[] {
    return [...this.config.voters, ...this.config.learners];
  }

  /**
   * Adopts `config`. Progress is kept for members that stay, created (next = lastIndex + 1)
   * for new ones and dropped for removed ones.
   */
  setConfig(config: MembershipConfig, lastIndex: LogIndex): void {
    this.config = config;
    this.voterSet = new Set(config.voters);
    this.learnerSet = new Set(config.learners);
    for (const id of [...this.progress.keys()]) {
      if (!this.isMember(id)) {
        this.progress.delete(id);
      }
    }
    for (const id of this.members()) {
      const existing = this.progress.get(id);
      if (existing === undefined) {
        this.progress.set(id, this.newProgress(id, lastIndex));
      } else {
        existing.isLearner = this.isLearner(id);
      }
    }
  }

  /** Fresh progress for every member (a new leader's view, §5.3). */
  resetProgress(lastIndex: LogIndex): void {
    this.progress.clear();
    for (const id of this.members()) {
      this.progress.set(id, this.newProgress(id, lastIndex));
    }
  }

  private newProgress(id: NodeId, lastIndex: LogIndex): Progress {
    return new Progress((lastIndex + 1) as LogIndex, this.maxInflightMessages, this.maxInflightBytes, this.isLearner(id));
  }

  /** The highest index replicated on a quorum of voters; -1 with no voters. */
  committedIndex(): number {
    const matches: number[] = [];
    for (const id of this.config.voters) {
      matches.push(this.progress.get(id)?.match ?? 0);
    }
    return quorumMinimum(matches);
  }

  /** The highest heartbeat round a quorum of voters acknowledged; -1 with no voters. */
  quorumAckedRound(): number {
    const rounds: number[] = [];
    for (const id of this.config.voters) {
      rounds.push(this.progress.get(id)?.ackedRound ?? 0);
    }
    return quorumMinimum(rounds);
  }

  /** Whether a quorum of voters was heard from recently (check-quorum, §6.2). */
  quorumActive(self: NodeId): boolean {
    let active = 0;
    for (const id of this.config.voters) {
      if (id === self || this.progress.get(id)?.recentActive === true) {
        active++;
      }
    }
    return this.config.voters.length > 0 && active >= quorumSize(this.config.voters.length);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records a vote; a voter's first answer in an election counts, later ones are ignored. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) {
      this.votes.set(id, granted);
    }
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.config.voters) {
      const vote = this.votes.get(id);
      if (vote === true) {
        granted++;
      } else if (vote === false) {
        rejected++;
      }
    }
    return { granted, rejected, result: voteResult(this.config.voters.length, granted, rejected) };
  }
}
