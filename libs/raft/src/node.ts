/**
 * RaftNode: the public face of the core. The driver feeds it ticks, messages and proposals,
 * and drains Ready batches (see ready.ts for the order a Ready must be handled in).
 *
 *     driver ──tick/step/propose/readIndex──▶ RaftNode ──ready()──▶ driver persists, sends, applies
 *        ▲                                                                   │
 *        └──────────────────────────── advance(ready) ◀──────────────────────┘
 */
import type { RaftConfig } from './config';
import { invariant } from './errors';
import type { Message } from './messages';
import { CampaignKind, Raft } from './raft';
import { flushLeader, leaderPersisted, propose, transferLeadership } from './raft-leader';
import { leaderReadIndex, leaseValid } from './raft-leader-reads';
import type { ProposalTicket } from './raft-leader';
import { followerReadIndex } from './raft-follower';
import { proposeConfChange } from './raft-membership';
import { Role } from './ready';
import type { Ready, SoftState } from './ready';
import { ProgressState } from './progress';
import type { RaftStorage } from './storage';
import { EntryType, entryBytes, hardStateEqual } from './types';
import type { ConfChange, HardState, LogIndex, MembershipConfig, NodeId, Term } from './types';

export type { ProposalTicket } from './raft-leader';

/** How a read is confirmed: a heartbeat round (safe, default) or the leader's lease. */
export enum ReadMode {
  Safe = 'safe',
  Lease = 'lease',
}

export interface FollowerStatus {
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  /** Ticks since the leader last heard from the member (Infinity: not in this term). */
  readonly ticksSinceActive: number;
  readonly isLearner: boolean;
  readonly pendingSnapshot: LogIndex;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly vote: NodeId;
  readonly leader: NodeId;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly firstIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly config: MembershipConfig;
  readonly leadTransferee: NodeId | undefined;
  /** On the leader: every member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, FollowerStatus> | undefined;
  /** Election timeout in ticks (T), for judging ticksSinceActive. */
  readonly electionTimeoutTicks: number;
}

export class RaftNode {
  private readonly raft: Raft;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private inFlight: Ready | undefined = undefined;

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.raft = new Raft(config, storage);
    this.prevHardState = storage.hardState();
    this.prevSoftState = { leader: this.raft.leader, role: this.raft.role };
  }

  /** Advances logical time by one tick (elections, heartbeats, leases, transfer timeouts). */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Ticks until tick() next has work of its own (heartbeat, check-quorum or election timeout);
   * POSITIVE_INFINITY when none is due (a learner). A driver can arm one timer for this many
   * ticks instead of ticking at a fixed rate, catching up the elapsed ticks when it fires and
   * before it steps messages; it must ask again after every Ready (a role change moves it).
   */
  ticksUntilDeadline(): number {
    return this.raft.ticksUntilDeadline();
  }

  /** Feeds a message from a peer. Messages for another member are a driver bug. */
  step(message: Message): void {
    invariant(message.to === this.raft.id, () => `message for ${message.to} stepped into ${this.raft.id}`);
    this.raft.step(message);
  }

  /** Proposes one entry of application data (leader only). Throws NotLeaderError & co. */
  propose(data: Uint8Array): ProposalTicket {
    return propose(this.raft, [data], EntryType.Normal)[0] as ProposalTicket;
  }

  /** Proposes several entries at once; all or none are appended. */
  proposeBatch(payloads: readonly Uint8Array[]): ProposalTicket[] {
    return payloads.length === 0 ? [] : propose(this.raft, payloads, EntryType.Normal);
  }

  /** Proposes a membership change (leader only, one at a time). Throws ConfChangeRefusedError. */
  proposeConfChange(change: ConfChange): ProposalTicket {
    return proposeConfChange(this.raft, change);
  }

  /**
   * Requests a linearizable read point (§6.4). The answer arrives as a ReadState with the same
   * context in a later Ready (or the context in failedReads if it cannot be served: retry).
   * Contexts must be unique among reads in flight. On a follower the read is forwarded to the
   * leader; with no known leader this throws NotLeaderError.
   */
  readIndex(context: string, mode: ReadMode = ReadMode.Safe): void {
    if (this.raft.role === Role.Leader) {
      leaderReadIndex(this.raft, context, this.raft.id, mode === ReadMode.Lease);
    } else {
      followerReadIndex(this.raft, context);
    }
  }

  /** Whether a lease read would be served without a heartbeat round right now. */
  hasValidLease(): boolean {
    return leaseValid(this.raft);
  }

  /** Hands leadership to `target` (§3.10). Proposals are refused until it completes or times out. */
  transferLeadership(target: NodeId): void {
    transferLeadership(this.raft, target);
  }

  /** Starts an election now (tests, and a single member bootstrapping quickly). */
  campaign(): void {
    if (this.raft.role !== Role.Leader) {
      this.raft.campaign(this.raft.cfg.preVote ? CampaignKind.PreVote : CampaignKind.Election);
    }
  }

  /** The transport could not reach `id`: stop pipelining to it and probe instead. */
  reportUnreachable(id: NodeId): void {
    const pr = this.raft.role === Role.Leader ? this.raft.tracker.progress.get(id) : undefined;
    if (pr !== undefined && pr.state === ProgressState.Replicate) {
      pr.becomeProbe();
    }
  }

  /** The driver finished (or failed) streaming a snapshot to `id`. */
  reportSnapshot(id: NodeId, succeeded: boolean): void {
    const pr = this.raft.role === Role.Leader ? this.raft.tracker.progress.get(id) : undefined;
    if (pr === undefined || pr.state !== ProgressState.Snapshot) {
      return;
    }
    if (!succeeded) {
      pr.pendingSnapshot = 0 as LogIndex;
    }
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat) before probing.
    pr.probeSent = true;
  }

  hasReady(): boolean {
    const r = this.raft;
    if (this.inFlight !== undefined) {
      return false;
    }
    return (
      r.earlyMessages.length > 0 ||
      r.persistedMessages.length > 0 ||
      r.log.unstable.entries.length > 0 ||
      r.log.unstable.snapshot !== undefined ||
      r.log.hasNextCommittedEntries() ||
      r.readStates.length > 0 ||
      r.failedReads.length > 0 ||
      (r.role === Role.Leader && (r.needAppendBroadcast || r.needReadRound)) ||
      !hardStateEqual(this.hardState(), this.prevHardState) ||
      r.leader !== this.prevSoftState.leader ||
      r.role !== this.prevSoftState.role
    );
  }

  /** Takes the next Ready. Call advance(ready) before taking another. */
  ready(): Ready {
    invariant(this.inFlight === undefined, 'ready() called again before advance()');
    const r = this.raft;
    flushLeader(r);
    const hardState = this.hardState();
    const hardChanged = !hardStateEqual(hardState, this.prevHardState);
    const softState: SoftState = { leader: r.leader, role: r.role };
    const softChanged = softState.leader !== this.prevSoftState.leader || softState.role !== this.prevSoftState.role;
    const committedEntries = r.log.nextCommittedEntries(r.cfg.maxCommittedBytesPerReady);
    if (r.role === Role.Leader) {
      for (const entry of committedEntries) {
        r.uncommittedBytes = Math.max(0, r.uncommittedBytes - entryBytes(entry));
      }
    }
    const entries = r.log.unstable.entries.slice();
    const snapshot = r.log.unstable.snapshot;
    const ready: Ready = {
      softState: softChanged ? softState : undefined,
      hardState: hardChanged ? hardState : undefined,
      entries,
      snapshot,
      committedEntries,
      earlyMessages: r.earlyMessages,
      messages: r.persistedMessages,
      readStates: r.readStates,
      failedReads: r.failedReads,
      mustSync: entries.length > 0 || snapshot !== undefined || (hardChanged && (hardState.term !== this.prevHardState.term || hardState.vote !== this.prevHardState.vote)),
    };
    r.earlyMessages = [];
    r.persistedMessages = [];
    r.readStates = [];
    r.failedReads = [];
    if (softChanged) {
      this.prevSoftState = softState;
    }
    this.inFlight = ready;
    return ready;
  }

  /** The driver has handled `ready` in the documented order. */
  advance(ready: Ready): void {
    invariant(this.inFlight === ready, 'advance() with a Ready that is not the one in flight');
    this.inFlight = undefined;
    const r = this.raft;
    if (ready.hardState !== undefined) {
      this.prevHardState = ready.hardState;
    }
    if (ready.snapshot !== undefined) {
      r.log.unstable.stableSnapshotTo(ready.snapshot.index);
    }
    const last = ready.entries[ready.entries.length - 1];
    if (last !== undefined) {
      r.log.unstable.stableTo(last.index, last.term);
      if (r.log.matchTerm(last.index, last.term)) {
        leaderPersisted(r, last.index);
      }
    }
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied !== undefined) {
      r.log.appliedTo(lastApplied.index);
    }
  }

  /**
   * The configuration in effect at `index` (the latest set at or before it), for an index at
   * or after the log's first index. Drivers record it with a compaction point.
   */
  configAt(index: LogIndex): MembershipConfig {
    return this.raft.configs.configAt(index);
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  /** The current role (cheap; status() builds the whole picture). */
  get role(): Role {
    return this.raft.role;
  }

  /** The current term (cheap). */
  get term(): Term {
    return this.raft.term;
  }

  /** The leader this member knows, NO_NODE for none (cheap). */
  get leader(): NodeId {
    return this.raft.leader;
  }

  status(): RaftStatus {
    const r = this.raft;
    let progress: Map<NodeId, FollowerStatus> | undefined;
    if (r.role === Role.Leader) {
      progress = new Map();
      for (const [id, pr] of r.tracker.progress) {
        const ticksSinceActive = id === r.id ? 0 : pr.lastActiveTick < 0 ? Number.POSITIVE_INFINITY : r.now - pr.lastActiveTick;
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive, ticksSinceActive, isLearner: pr.isLearner, pendingSnapshot: pr.pendingSnapshot });
      }
    }
    return {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      leader: r.leader,
      commit: r.log.committed,
      applied: r.log.applying,
      firstIndex: r.log.firstIndex(),
      lastIndex: r.log.lastIndex(),
      config: r.currentConfig(),
      leadTransferee: r.leadTransferee,
      progress,
      electionTimeoutTicks: r.cfg.electionTimeoutTicks,
    };
  }
}
