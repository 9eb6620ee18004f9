/**
 * Membership changes, safely (issue: "refuse a change that would leave the cluster without a
 * live quorum unless forced; refuse to promote a learner that is behind; each refusal names
 * why"). Runs on the leader; the core refuses a second change while one is pending.
 *
 *     add (learner by default) ──▶ catches up (entries or a snapshot) ──▶ promote (by hand, or
 *     automatically once within `promoteLagEntries`) ──▶ voter ──▶ remove
 */
import { NO_NODE, ConfChangeType, NotLeaderError, Role } from '@keyval/raft';
import type { FollowerStatus, NodeId, RaftStatus } from '@keyval/raft';
import { encodeCommand, encodeMemberContext } from '@keyval/statemachine';
import type { ApplyResult, MemberRecord, MembershipState } from '@keyval/statemachine';
import type { RaftDriver } from '../driver/raft-driver';
import { computeMemberId } from './member-identity';
import type { Outcome } from '@keyval/outcome';

/**
 * Why a membership change was refused, so the edge can answer with etcd's error text for the
 * same condition (etcd clients recognise those):
 * - `peer-urls-exist`: another member already has one of the peer URLs;
 * - `name-exists`: another member already has the name;
 * - `member-not-found`: no member has the id;
 * - `not-learner`: promoting a member that is not a learner;
 * - `learner-not-ready`: promoting a learner that is behind or unreachable;
 * - `not-enough-started`: the change would leave the voters without a live quorum;
 * - `bad-request`: the request itself is invalid (no peer URL);
 * - `leader-handoff`: removing the leader, whose leadership could not be moved away.
 */
export type MembershipRefusal = 'peer-urls-exist' | 'name-exists' | 'member-not-found' | 'not-learner' | 'learner-not-ready' | 'not-enough-started' | 'bad-request' | 'leader-handoff';

/** A change the member will not make; `reason` says why (FAILED_PRECONDITION at the edge). */
export class MembershipRefusedError extends Error {
  readonly code = 'MEMBERSHIP_REFUSED';
  /** Refused before the change was proposed. */
  readonly outcome: Outcome = 'not-applied';
  constructor(
    readonly reason: string,
    readonly kind: MembershipRefusal = 'bad-request',
  ) {
    super(`membership change refused: ${reason}`);
    this.name = 'MembershipRefusedError';
  }
}

export interface MembershipHost {
  readonly id: NodeId;
  readonly driver: RaftDriver<ApplyResult>;
  membership(): MembershipState;
  readonly clusterToken: string;
}

export interface MembershipOptions {
  /** A learner within this many entries of the leader's log is caught up (0: never auto-promote). */
  readonly promoteLagEntries: number;
  /** Promote caught-up learners automatically. */
  readonly autoPromote: boolean;
}

/** How long a newly elected leader waits to hear from every member before judging liveness, ms. */
const SETTLE_MS = 1_500;

const sameUrls = (a: readonly string[], b: readonly string[]): boolean => [...a].sort().join(',') === [...b].sort().join(',');

export class MembershipManager {
  constructor(
    private readonly host: MembershipHost,
    private readonly options: MembershipOptions,
  ) {}

  private leaderStatus(): RaftStatus & { progress: ReadonlyMap<NodeId, FollowerStatus> } {
    const st = this.host.driver.status();
    if (st.role !== Role.Leader || st.progress === undefined) {
      throw new NotLeaderError(st.leader === NO_NODE ? undefined : st.leader);
    }
    return st as RaftStatus & { progress: ReadonlyMap<NodeId, FollowerStatus> };
  }

  /**
   * Whether the leader heard from `id` within an election timeout and its connection has not
   * broken since (itself: always). Without the second part, a member killed a moment ago
   * still counts as live for up to an election timeout, and a change that needs it could be
   * let through and leave the cluster without a quorum.
   */
  private isLive(st: RaftStatus & { progress: ReadonlyMap<NodeId, FollowerStatus> }, id: NodeId): boolean {
    if (id === this.host.id) return true;
    const pr = st.progress.get(id);
    if (pr === undefined || pr.ticksSinceActive > st.electionTimeoutTicks) return false;
    const driver = this.host.driver;
    return driver.msSinceUnreachable(id) > pr.ticksSinceActive * driver.tickMs;
  }

  /** The reason `voters` would have no live quorum, or undefined when it would. */
  private quorumProblem(st: RaftStatus & { progress: ReadonlyMap<NodeId, FollowerStatus> }, voters: readonly NodeId[], what: string): string | undefined {
    const live = voters.filter((v) => this.isLive(st, v));
    const quorum = Math.floor(voters.length / 2) + 1;
    if (live.length >= quorum) return undefined;
    const down = voters.filter((v) => !this.isLive(st, v)).map((v) => (v === 0n ? 'the new member' : v.toString(16)));
    return `${what} would leave ${voters.length} voters of which only ${live.length} are reachable (members down: ${down.join(', ') || 'none'}); a quorum needs ${quorum}. Pass --force to do it anyway`;
  }

  /** Whether the leader has not heard from some member yet in its term (it may be newly elected). */
  private someoneUnheard(): boolean {
    const st = this.host.driver.status();
    return [...(st.progress?.entries() ?? [])].some(([id, pr]) => id !== this.host.id && pr.ticksSinceActive === Infinity);
  }

  /**
   * Runs `check`; while it refuses and the leader has not yet heard from every member in its
   * term (a newly elected leader knows nothing of the others' liveness until they answer its
   * first heartbeats), runs it again, for at most SETTLE_MS. The last refusal stands.
   */
  private async settled(check: () => void, deadlineMs: number): Promise<void> {
    const until = Math.min(deadlineMs, performance.now() + SETTLE_MS);
    for (;;) {
      try {
        check();
        return;
      } catch (error) {
        if (!(error instanceof MembershipRefusedError) || !this.someoneUnheard() || performance.now() >= until) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private checkAdd(name: string, peerUrls: readonly string[], voter: boolean, force: boolean): void {
    const st = this.leaderStatus();
    if (peerUrls.length === 0) throw new MembershipRefusedError('a member needs at least one peer URL', 'bad-request');
    const membership = this.host.membership();
    const clash = membership.members.find((m) => m.peerUrls.some((u) => peerUrls.includes(u)));
    if (clash !== undefined) {
      throw new MembershipRefusedError(`peer URL ${peerUrls.join(',')} is already used by member ${clash.name || clash.id.toString(16)}`, 'peer-urls-exist');
    }
    if (name.length > 0 && membership.members.some((m) => m.name === name)) {
      throw new MembershipRefusedError(`a member named ${name} already exists`, 'name-exists');
    }
    if (voter && !force) {
      const problem = this.quorumProblem(st, [...st.config.voters, NO_NODE], `adding voter ${name || peerUrls[0]} (not running yet)`);
      if (problem !== undefined) throw new MembershipRefusedError(problem, 'not-enough-started');
    }
  }

  /** Adds a member (a learner unless `voter`); resolves with its record once the change applied. */
  async add(name: string, peerUrls: readonly string[], voter: boolean, force: boolean, deadlineMs: number): Promise<MemberRecord> {
    await this.settled(() => this.checkAdd(name, peerUrls, voter, force), deadlineMs);
    const id = computeMemberId(peerUrls, this.host.clusterToken, Date.now());
    const context = encodeMemberContext({ name, peerUrls, clientUrls: [] });
    await this.host.driver.proposeConfChange({ type: voter ? ConfChangeType.AddVoter : ConfChangeType.AddLearner, nodeId: id, context }, deadlineMs);
    return { id, name, peerUrls: [...peerUrls], clientUrls: [] };
  }

  private checkPromote(id: NodeId, force: boolean): void {
    const st = this.leaderStatus();
    if (!st.config.learners.includes(id)) {
      const voter = st.config.voters.includes(id);
      throw new MembershipRefusedError(`${id.toString(16)} is not a learner${voter ? ' (it is already a voter)' : ' (no such member)'}`, voter ? 'not-learner' : 'member-not-found');
    }
    const lag = st.lastIndex - (st.progress.get(id)?.match ?? 0);
    const allowed = Math.max(this.options.promoteLagEntries, 1);
    if (!force && (lag > allowed || !this.isLive(st, id))) {
      throw new MembershipRefusedError(
        this.isLive(st, id) ? `learner ${id.toString(16)} is ${lag} entries behind the leader (at most ${allowed} allowed); wait for it to catch up` : `learner ${id.toString(16)} is not reachable`,
        'learner-not-ready',
      );
    }
  }

  /** Promotes a learner that has caught up (within promoteLagEntries) unless forced. */
  async promote(id: NodeId, force: boolean, deadlineMs: number): Promise<void> {
    await this.settled(() => this.checkPromote(id, force), deadlineMs);
    await this.host.driver.proposeConfChange({ type: ConfChangeType.PromoteLearner, nodeId: id, context: new Uint8Array(0) }, deadlineMs);
  }

  private checkRemove(id: NodeId, force: boolean): void {
    const st = this.leaderStatus();
    const isVoter = st.config.voters.includes(id);
    if (!isVoter && !st.config.learners.includes(id)) {
      throw new MembershipRefusedError(`${id.toString(16)} is not a member`, 'member-not-found');
    }
    if (isVoter && !force) {
      const problem = this.quorumProblem(st, st.config.voters.filter((v) => v !== id), `removing ${id.toString(16)}`);
      if (problem !== undefined) throw new MembershipRefusedError(problem, 'not-enough-started');
    }
  }

  /**
   * Resolves when removing `id` would be accepted now; throws MembershipRefusedError when it is
   * refused (not a member; without `force`, a voter whose removal would leave no live quorum),
   * NotLeaderError off the leader.
   */
  async ensureRemovable(id: NodeId, force: boolean, deadlineMs: number): Promise<void> {
    await this.settled(() => this.checkRemove(id, force), deadlineMs);
  }

  /** Removes a member. The leader itself is removed by the caller after moving leadership. */
  async remove(id: NodeId, force: boolean, deadlineMs: number): Promise<void> {
    await this.ensureRemovable(id, force, deadlineMs);
    await this.host.driver.proposeConfChange({ type: ConfChangeType.RemoveMember, nodeId: id, context: new Uint8Array(0) }, deadlineMs);
  }

  private checkUpdate(id: NodeId, peerUrls: readonly string[]): void {
    this.leaderStatus();
    if (peerUrls.length === 0) throw new MembershipRefusedError('a member needs at least one peer URL', 'bad-request');
    const members = this.host.membership().members;
    if (!members.some((m) => m.id === id)) {
      throw new MembershipRefusedError(`${id.toString(16)} is not a member`, 'member-not-found');
    }
    const clash = members.find((m) => m.id !== id && m.peerUrls.some((u) => peerUrls.includes(u)));
    if (clash !== undefined) {
      throw new MembershipRefusedError(`peer URL ${peerUrls.join(',')} is already used by member ${clash.name || clash.id.toString(16)}`, 'peer-urls-exist');
    }
  }

  /**
   * Changes a member's peer URLs, keeping its id (etcd's MemberUpdate), through the log (a
   * command, not a configuration change: the voters stay the same); every member's transport
   * then sends to the new URL. Resolves with the record once applied. Throws
   * MembershipRefusedError (`member-not-found`, `peer-urls-exist`, `bad-request`), also when the
   * check made again at apply refuses it, and NotLeaderError off the leader.
   */
  async update(id: NodeId, peerUrls: readonly string[], deadlineMs: number): Promise<MemberRecord> {
    this.checkUpdate(id, peerUrls);
    const data = encodeCommand({ timestampMs: Date.now(), op: { type: 'memberUpdate', id, peerUrls } });
    const result = await this.host.driver.propose(data, deadlineMs);
    if (result.kind !== 'memberUpdate') {
      throw new Error(`a member update applied as ${result.kind}`);
    }
    if (result.refused !== undefined) {
      throw new MembershipRefusedError(`${id.toString(16)}: ${result.refused === 'member-not-found' ? 'no longer a member' : 'another member took one of the peer URLs meanwhile'}`, result.refused);
    }
    const record = result.membership.members.find((m) => m.id === id);
    if (record === undefined) {
      throw new Error(`member ${id.toString(16)} missing after its update applied`);
    }
    return record;
  }

  /** The member added with exactly these peer URLs, if any. */
  findByPeerUrls(peerUrls: readonly string[]): MemberRecord | undefined {
    return this.host.membership().members.find((m) => sameUrls(m.peerUrls, peerUrls));
  }

  /** On the leader: promotes one caught-up, reachable learner (called periodically). */
  async autoPromote(deadlineMs: number): Promise<NodeId | undefined> {
    if (!this.options.autoPromote || this.options.promoteLagEntries <= 0) return undefined;
    let st;
    try {
      st = this.leaderStatus();
    } catch {
      return undefined;
    }
    if (st.config.learners.length === 0) return undefined;
    for (const learner of st.config.learners) {
      const lag = st.lastIndex - (st.progress.get(learner)?.match ?? 0);
      if (lag <= this.options.promoteLagEntries && this.isLive(st, learner)) {
        await this.promote(learner, false, deadlineMs);
        return learner;
      }
    }
    return undefined;
  }
}
