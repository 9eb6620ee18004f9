/**
 * The Raft state of one member and its role transitions (§5.2, Figure 2). Message handling
 * per role lives in raft-leader.ts and raft-follower.ts; membership in raft-membership.ts.
 * Everything is synchronous and deterministic: time is `tick()`, randomness is cfg.random.
 *
 *                 timeout               quorum of pre-votes           quorum of votes
 *     Follower ------------> PreCandidate -----------------> Candidate ---------------> Leader
 *        ^  ^                     |                              |                        |
 *        |  \---- higher term, lost pre-vote, or a leader -------/                        |
 *        \--------------------- higher term, lost check-quorum, removed ------------------/
 */
import { resolveConfig } from './config';
import type { RaftConfig, ResolvedRaftConfig } from './config';
import { invariant } from './errors';
import { assertNever } from './messages';
import type { Message } from './messages';
import { RaftLog } from './raft-log';
import { ReadIndexQueue } from './read-index';
import type { PendingRead } from './read-index';
import { Role } from './ready';
import type { ReadState } from './ready';
import type { RaftStorage } from './storage';
import { ProgressTracker } from './tracker';
import { VoteResult } from './quorum';
import { NO_NODE } from './types';
import type { LogIndex, MembershipConfig, NodeId, Term } from './types';
import { ConfigHistory } from './config-history';
import { stepLeader, broadcastHeartbeat } from './raft-leader';
import { failPendingReads } from './raft-leader-reads';
import { stepFollower, stepCandidate } from './raft-follower';

/** Pending reads beyond this are refused (a limit on everything, STYLE.md). */
const MAX_PENDING_READS = 100_000;

/** How an election is being started. */
export enum CampaignKind {
  PreVote = 'pre-vote',
  Election = 'election',
  /** After TimeoutNow (§3.10): skip pre-vote and ask voters to ignore their lease. */
  Transfer = 'transfer',
}

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedRaftConfig;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly configs: ConfigHistory;

  term: Term;
  vote: NodeId;
  leader: NodeId = NO_NODE;
  role: Role = Role.Follower;

  /** Ticks since the last election timeout reset (followers: since hearing from a leader). */
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Ticks since this core was created: the clock of leases. */
  now = 0;
  /** With lease reads, votes are refused until this tick (a restarted member may have promised
   * a lease before it crashed). */
  voteGuardUntil = 0;

  leadTransferee: NodeId | undefined = undefined;
  /** TimeoutNow went to the transferee (the transfer's clock restarted then). */
  timeoutNowSent = false;
  /**
   * This leader sent a TimeoutNow in its term, so it holds no lease for the rest of the term
   * (see leaseValid). Cleared only by a role or term change (reset): once set, lease reads fall
   * back to heartbeat rounds until this member stops leading.
   */
  leaseForfeited = false;
  /** Bytes of entries appended by this leader and not yet handed out as committed. */
  uncommittedBytes = 0;

  /** Outgoing messages that may leave at once / only after the next Ready is durable. */
  earlyMessages: Message[] = [];
  persistedMessages: Message[] = [];
  readStates: ReadState[] = [];
  failedReads: string[] = [];

  /** Heartbeat rounds: each broadcast is a round; followers echo it (leases, ReadIndex). */
  heartbeatRound = 0;
  readonly roundSentAt = new Map<number, number>();
  readonly pendingReads = new ReadIndexQueue(MAX_PENDING_READS);
  /** Reads that arrived before this leader committed an entry of its term. */
  readsAwaitingTermCommit: { context: string; from: NodeId }[] = [];
  /** Reads this follower forwarded to the leader and has not heard back about. */
  readonly forwardedReads = new Set<string>();
  /** A Ready flush should broadcast appends (batched proposals, commit advance). */
  needAppendBroadcast = false;
  /** A Ready flush should start a heartbeat round for reads queued since the last one. */
  needReadRound = false;

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    const hard = storage.hardState();
    this.term = hard.term;
    this.vote = hard.vote;
    this.log = new RaftLog(storage, this.cfg.applied);
    this.configs = ConfigHistory.load(storage);
    this.tracker = new ProgressTracker(this.configs.current(), this.cfg.maxInflightMessages, this.cfg.maxInflightBytes);
    this.tracker.setConfig(this.configs.current(), this.log.lastIndex());
    if (this.cfg.leaseReads) {
      this.voteGuardUntil = this.cfg.electionTimeoutTicks;
    }
    this.resetRandomizedElectionTimeout();
  }

  /** Whether this member may campaign: it is a voter in its current configuration. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id);
  }

  resetRandomizedElectionTimeout(): void {
    const T = this.cfg.electionTimeoutTicks;
    this.randomizedElectionTimeout = T + this.cfg.random.nextInt(T);
  }

  send(message: Message): void {
    invariant(message.to !== this.id, () => `message ${message.type} to self`);
    if (mustWaitForPersist(message)) {
      this.persistedMessages.push(message);
    } else {
      this.earlyMessages.push(message);
    }
  }

  private reset(newTerm: Term): void {
    if (this.term !== newTerm) {
      this.term = newTerm;
      this.vote = NO_NODE;
    }
    this.leader = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = undefined;
    this.leaseForfeited = false;
    this.tracker.resetVotes();
    this.needAppendBroadcast = false;
    this.needReadRound = false;
    failPendingReads(this);
  }

  becomeFollower(newTerm: Term, leader: NodeId): void {
    this.reset(newTerm);
    this.role = Role.Follower;
    this.leader = leader;
  }

  becomePreCandidate(): void {
    invariant(this.role !== Role.Leader, 'a leader cannot become a pre-candidate');
    // Pre-vote changes neither term nor vote (§9.6).
    this.tracker.resetVotes();
    this.leader = NO_NODE;
    this.role = Role.PreCandidate;
    this.electionElapsed = 0;
    this.resetRandomizedElectionTimeout();
  }

  becomeCandidate(): void {
    invariant(this.role !== Role.Leader, 'a leader cannot become a candidate');
    this.reset((this.term + 1) as Term);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  becomeLeader(): void {
    invariant(this.role === Role.Candidate, () => `only a candidate becomes leader, not a ${this.role}`);
    this.reset(this.term);
    this.role = Role.Leader;
    this.leader = this.id;
    this.tracker.resetProgress(this.log.lastIndex());
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) {
      // The leader's own match counts only what is durable; advance() moves it forward.
      // Only the stored prefix that the unstable part does not replace matches our log.
      self.match = Math.min(this.log.lastIndex(), this.log.storage.lastIndex(), this.log.unstable.offset - 1) as LogIndex;
      self.next = (this.log.lastIndex() + 1) as LogIndex;
      self.recentActive = true;
    }
    this.uncommittedBytes = 0;
    // §8: a no-op entry of the new term lets the leader commit (and serve reads) promptly.
    const index = (this.log.lastIndex() + 1) as LogIndex;
    this.log.append([{ term: this.term, index, type: 0, data: new Uint8Array(0) }]);
    this.needAppendBroadcast = true;
  }

  /** Starts an election of the given kind (§5.2, §9.6). */
  campaign(kind: CampaignKind): void {
    if (!this.promotable()) {
      return;
    }
    let voteTerm: Term;
    if (kind === CampaignKind.PreVote) {
      this.becomePreCandidate();
      voteTerm = (this.term + 1) as Term;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tallyAndMaybeWin()) {
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const to of this.tracker.config.voters) {
      if (to === this.id) {
        continue;
      }
      if (kind === CampaignKind.PreVote) {
        this.send({ type: 'PreVote', from: this.id, to, term: voteTerm, lastLogIndex, lastLogTerm });
      } else {
        this.send({ type: 'Vote', from: this.id, to, term: voteTerm, lastLogIndex, lastLogTerm, transfer: kind === CampaignKind.Transfer });
      }
    }
  }

  /** Tallies votes; on a win moves on (pre-candidate → candidate → leader). Returns true if decided. */
  tallyAndMaybeWin(): boolean {
    const { result } = this.tracker.tallyVotes();
    if (result === VoteResult.Won) {
      if (this.role === Role.PreCandidate) {
        this.campaign(CampaignKind.Election);
      } else {
        this.becomeLeader();
      }
      return true;
    }
    if (result === VoteResult.Lost) {
      this.becomeFollower(this.term, NO_NODE);
      return true;
    }
    return false;
  }

  /** Advances logical time by one tick. */
  tick(): void {
    this.now++;
    if (this.role === Role.Leader) {
      this.tickLeader();
    } else {
      this.tickElection();
    }
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? CampaignKind.PreVote : CampaignKind.Election);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          // §6.2: without a quorum's contact for an election timeout, step down.
          this.becomeFollower(this.term, NO_NODE);
          return;
        }
        for (const [id, pr] of this.tracker.progress) {
          pr.recentActive = id === this.id;
        }
      }
      // §3.10: a transfer that has not completed within an election timeout is aborted.
      this.leadTransferee = undefined;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      broadcastHeartbeat(this);
    }
  }

  /**
   * Ticks until tick() next has work to do on its own: a heartbeat or check-quorum round on a
   * leader, an election timeout on a voter that is not one; POSITIVE_INFINITY on a learner or
   * a removed member, whose ticks only age its lease (see inLease). Always at least 1.
   * A driver may sleep this long and then catch up the elapsed ticks at once; messages stepped
   * meanwhile can only push the deadline later, except a role change, after which it must ask
   * again.
   */
  ticksUntilDeadline(): number {
    if (this.role === Role.Leader) {
      return Math.max(1, Math.min(this.cfg.heartbeatTicks - this.heartbeatElapsed, this.cfg.electionTimeoutTicks - this.electionElapsed));
    }
    if (!this.promotable()) {
      return Number.POSITIVE_INFINITY;
    }
    return Math.max(1, this.randomizedElectionTimeout - this.electionElapsed);
  }

  /** Whether this member is inside a leader's lease and must ignore (pre-)vote requests. */
  inLease(): boolean {
    if (this.now < this.voteGuardUntil) {
      return true;
    }
    return this.cfg.checkQuorum && this.leader !== NO_NODE && this.electionElapsed < this.cfg.electionTimeoutTicks;
  }

  /** Entry point for every message (§5.1: reconcile terms first). */
  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === 'PreVote' || m.type === 'Vote') {
        const forced = m.type === 'Vote' && m.transfer;
        if (!forced && this.inLease()) {
          // Check-quorum lease (§6.2, §9.6): a leader is alive; ignore the disruptive request.
          return;
        }
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResponse' && !m.reject)) {
        // Pre-votes are about a future term; they do not move ours.
      } else if (m.type === 'Append' || m.type === 'Heartbeat' || m.type === 'Snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NO_NODE);
      }
    } else if (m.term < this.term) {
      this.stepStale(m);
      return;
    }
    switch (m.type) {
      case 'PreVote':
      case 'Vote':
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case Role.Leader:
        stepLeader(this, m);
        return;
      case Role.Candidate:
      case Role.PreCandidate:
        stepCandidate(this, m);
        return;
      case Role.Follower:
        stepFollower(this, m);
        return;
      default:
        assertNever(this.role, 'role');
    }
  }

  private stepStale(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'Append' || m.type === 'Heartbeat')) {
      // A stale leader (e.g. after a partition healed) learns our term and steps down; without
      // this it could keep a partitioned member from ever rejoining under pre-vote (etcd #5451).
      this.send({ type: 'AppendResponse', from: this.id, to: m.from, term: this.term, index: 0 as LogIndex, reject: false, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
    } else if (m.type === 'PreVote') {
      this.send({ type: 'PreVoteResponse', from: this.id, to: m.from, term: this.term, reject: true });
    }
    // Everything else from an older term is ignored (§5.1).
  }

  private handleVoteRequest(m: Extract<Message, { type: 'PreVote' | 'Vote' }>): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NO_NODE && this.leader === NO_NODE) ||
      (m.type === 'PreVote' && m.term > this.term);
    const grant = canVote && this.log.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    if (m.type === 'PreVote') {
      // A granted pre-vote answers in the asked term, so the pre-candidate counts it.
      this.send({ type: 'PreVoteResponse', from: this.id, to: m.from, term: grant ? m.term : this.term, reject: !grant });
      return;
    }
    if (grant) {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
    this.send({ type: 'VoteResponse', from: this.id, to: m.from, term: this.term, reject: !grant });
  }

  /** Fails every read waiting on this leader (it lost leadership). */
  drainReads(): PendingRead[] {
    const drained = this.pendingReads.drain();
    const waiting = this.readsAwaitingTermCommit.map((r) => ({ ...r, index: 0 as LogIndex, round: 0 }));
    this.readsAwaitingTermCommit = [];
    return [...drained, ...waiting];
  }

  /** The configuration in effect (the latest in the log). */
  currentConfig(): MembershipConfig {
    return this.tracker.config;
  }
}

/**
 * Messages that speak for this member's durable state may leave only after the Ready that
 * holds it is persisted: votes (the vote must be on disk), vote requests (the candidate's own
 * vote and term) and acknowledgements of appended entries (a follower may not acknowledge what
 * it has not persisted).
 */
export function mustWaitForPersist(message: Message): boolean {
  switch (message.type) {
    case 'Vote':
    case 'VoteResponse':
    case 'AppendResponse':
      return true;
    case 'PreVote':
    case 'PreVoteResponse':
    case 'Append':
    case 'Heartbeat':
    case 'HeartbeatResponse':
    case 'Snapshot':
    case 'TimeoutNow':
    case 'ReadIndex':
    case 'ReadIndexResponse':
      return false;
    default:
      return assertNever(message, 'message');
  }
}
