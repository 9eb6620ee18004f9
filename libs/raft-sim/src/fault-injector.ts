/**
 * The safety phase's faults, each a seeded process with exponential gaps: partitions (and
 * their healing), crashes (and restarts), membership changes (add a learner, promote it,
 * remove a member — the leader included), leader transfers and process pauses. Membership changes and
 * transfers go through the member that believes it leads, like an operator's request would
 * (a new member is added as a learner and promoted later, or now and then directly as a voter);
 * a driver-level policy refuses unsafe ones (promoting a learner that has not caught up,
 * removing a voter when the rest would not form an active quorum), and the core refuses
 * invalid ones (ConfChangeRefusedError); both are counted, neither is a violation.
 */
import { ConfChangeType, nodeId, quorumSize } from '@keyval/raft';
import type { ConfChange, RaftStatus } from '@keyval/raft';
import { requestConfChange, requestTransfer } from './operator-requests';
import type { WorldMember } from './member-kind';
import { SimMember } from './sim-member';
import { MAX_MEMBER_ID, planPartition } from './sim-network';
import type { SimWorld } from './sim-world';

/** A learner is promoted only when it is at most this many entries behind the leader. */
export const PROMOTE_MAX_LAG = 10;
/** Share of crash events that take down a majority or every member at once. */
export const CORRELATED_CRASH_PROB = 0.15;
/** Share of crash events that wait for a member to issue a write and strike then. */
export const ARMED_CRASH_PROB = 0.5;
/** A removal is refused by the driver when fewer voters than this would remain. */
export const MIN_VOTERS_AFTER_REMOVAL = 2;

export class FaultInjector {
  private active = false;
  private added = 0;
  private readonly world: SimWorld;

  constructor(world: SimWorld) {
    this.world = world;
  }

  /** Starts every enabled fault process at the profile's fault start time. */
  start(): void {
    this.active = true;
    const p = this.world.profile;
    const first = (gapMs: number): number => p.faultStartMs + this.world.faultRandom.exponential(gapMs);
    if (p.partitionGapMs > 0) {
      this.world.schedule(first(p.partitionGapMs), () => this.partition());
    }
    if (p.crashGapMs > 0) {
      this.world.schedule(first(p.crashGapMs), () => this.crash());
    }
    if (p.membershipGapMs > 0) {
      this.world.schedule(first(p.membershipGapMs), () => this.membership());
    }
    if (p.transferGapMs > 0) {
      this.world.schedule(first(p.transferGapMs), () => this.transfer());
    }
    if (p.pauseGapMs > 0) {
      this.world.schedule(first(p.pauseGapMs), () => this.pause());
    }
  }

  private pause(): void {
    if (!this.active) {
      return;
    }
    const w = this.world;
    const r = w.faultRandom;
    const leader = w.currentLeader();
    const candidates = w.upMembers();
    const victim = leader !== undefined && r.chance(0.5) ? leader : candidates.length > 0 ? r.pick(candidates) : undefined;
    if (victim !== undefined) {
      const ms = r.between(10, w.profile.pauseMaxMs);
      w.counters.pauses++;
      w.log(`m${victim.num} PAUSE for ${ms} ms`);
      victim.pause(w.now + ms);
    }
    w.schedule(r.exponential(w.profile.pauseGapMs), () => this.pause());
  }

  /** No new faults; pending heals and restarts still run unless the liveness phase did them. */
  stop(): void {
    this.active = false;
    this.world.armCrash(undefined);
  }

  private partition(): void {
    if (!this.active) {
      return;
    }
    const w = this.world;
    const r = w.faultRandom;
    const ids = w.upMembers().map((m) => m.num);
    if (ids.length >= 2) {
      const plan = planPartition(r.pick(w.profile.partitionKinds), ids, w.currentLeader()?.num, r);
      w.network.heal();
      w.network.apply(plan);
      w.counters.partitions++;
      w.log(`PARTITION ${plan.description}`);
    }
    const duration = r.between(w.profile.partitionMinMs, w.profile.partitionMaxMs);
    w.schedule(duration, () => {
      if (this.active) {
        w.network.heal();
        w.log('HEAL network');
        w.schedule(r.exponential(w.profile.partitionGapMs), () => this.partition());
      }
    });
  }

  /**
   * Crashes: usually one member (the leader with crashLeaderProb; otherwise preferring a member
   * with writes not yet durable, where a crash loses the most), sometimes a majority or the
   * whole cluster at once (power loss). Each restarts after its own downtime.
   */
  private crash(): void {
    if (!this.active) {
      return;
    }
    const w = this.world;
    const r = w.faultRandom;
    const correlated = r.chance(CORRELATED_CRASH_PROB);
    if (r.chance(ARMED_CRASH_PROB)) {
      // Crash at the worst moment: when a member has just issued a write that is not durable
      // yet — any write, or (half the time) one that records a new term or vote.
      const votesOnly = r.chance(0.5);
      w.armCrash((writer) => this.crashNow(correlated, writer), (_writer, fsync) => fsync.voteChanged || !votesOnly);
    } else {
      this.crashNow(correlated, undefined);
    }
    w.schedule(r.exponential(w.profile.crashGapMs), () => this.crash());
  }

  private crashNow(correlated: boolean, writer: SimMember | undefined): void {
    if (!this.active) {
      return;
    }
    const w = this.world;
    const r = w.faultRandom;
    const up = w.upMembers().filter((m) => !m.removed);
    let victims: WorldMember[];
    if (correlated && up.length > 0) {
      const all = r.chance(0.5);
      const rest = r.shuffled(up.filter((m) => m !== writer));
      victims = all ? up : [...(writer === undefined ? [] : [writer]), ...rest].slice(0, Math.floor(up.length / 2) + 1);
      w.log(`CORRELATED CRASH of ${all ? 'every member' : 'a majority'}${writer === undefined ? '' : ` as m${writer.num} writes`}`);
    } else if (writer !== undefined) {
      victims = [writer];
    } else {
      const leader = w.currentLeader();
      const unsynced = up.filter((m) => m.unsyncedWrites > 0);
      const victim = leader !== undefined && r.chance(w.profile.crashLeaderProb) ? leader : unsynced.length > 0 && r.chance(0.5) ? r.pick(unsynced) : up.length > 0 ? r.pick(up) : undefined;
      victims = victim === undefined ? [] : [victim];
    }
    for (const victim of victims) {
      w.crash(victim);
      w.schedule(r.between(w.profile.downMinMs, w.profile.downMaxMs), () => {
        if (this.active && !victim.up && !victim.removed) {
          victim.start();
        }
      });
    }
  }

  private membership(): void {
    if (!this.active) {
      return;
    }
    const w = this.world;
    const leader = w.currentLeader();
    const st = leader?.status();
    if (leader !== undefined && st !== undefined) {
      const canAdd = this.added < w.profile.maxAddedMembers && w.nextMemberId <= MAX_MEMBER_ID;
      const action = w.faultRandom.weighted<'add' | 'add-voter' | 'promote' | 'remove'>([
        ['add', canAdd ? 2 : 0],
        ['add-voter', canAdd ? 0.5 : 0],
        ['promote', st.config.learners.length > 0 ? 3 : 0],
        ['remove', 1],
      ]);
      if (action === 'add') {
        this.addLearner(leader);
      } else if (action === 'add-voter') {
        this.addVoter(leader, st);
      } else if (action === 'promote') {
        this.promote(leader, st);
      } else {
        this.remove(leader, st);
      }
    }
    w.schedule(w.faultRandom.exponential(w.profile.membershipGapMs), () => this.membership());
  }

  /**
   * Adds a brand-new member as a learner: empty storage, no configuration; it learns
   * everything from the leader. Ids are never reused. The process starts as soon as the
   * leader accepts the change, or (when the leader was paused and the request queued) when
   * the change is first applied anywhere — see SimWorld.onApplied.
   */
  private addLearner(leader: WorldMember): void {
    const id = nodeId(this.world.nextMemberId++);
    this.added++;
    if (this.propose(leader, { type: ConfChangeType.AddLearner, nodeId: id, context: new Uint8Array(0) })) {
      this.world.startNewMember(id);
    }
  }

  /**
   * Adds a brand-new, empty member directly as a voter. The driver refuses when the voters
   * already active could not form a quorum of the larger configuration (the new member is
   * not active until it catches up): etcd's strict reconfiguration check.
   */
  private addVoter(leader: WorldMember, st: RaftStatus): void {
    const w = this.world;
    const active = st.config.voters.filter((v) => v === leader.id || st.progress?.get(v)?.recentActive === true).length;
    if (active < quorumSize(st.config.voters.length + 1)) {
      w.counters.confChangesRefusedByDriver++;
      w.log(`driver refuses to add a voter: ${active} of ${st.config.voters.length} voters active`);
      return;
    }
    const id = nodeId(w.nextMemberId++);
    this.added++;
    if (this.propose(leader, { type: ConfChangeType.AddVoter, nodeId: id, context: new Uint8Array(0) })) {
      w.startNewMember(id);
    }
  }

  private promote(leader: WorldMember, st: RaftStatus): void {
    const w = this.world;
    const learner = w.faultRandom.pick(st.config.learners);
    const match = st.progress?.get(learner)?.match ?? 0;
    if (match + PROMOTE_MAX_LAG < st.lastIndex) {
      w.counters.confChangesRefusedByDriver++;
      w.log(`driver refuses to promote ${learner}: match ${match}, leader last ${st.lastIndex}`);
      return;
    }
    this.propose(leader, { type: ConfChangeType.PromoteLearner, nodeId: learner, context: new Uint8Array(0) });
  }

  private remove(leader: WorldMember, st: RaftStatus): void {
    const w = this.world;
    const members = [...st.config.voters, ...st.config.learners];
    const victim = w.faultRandom.pick(members);
    if (st.config.voters.includes(victim)) {
      const remaining = st.config.voters.filter((v) => v !== victim);
      const active = remaining.filter((v) => v === leader.id || st.progress?.get(v)?.recentActive === true).length;
      if (remaining.length < MIN_VOTERS_AFTER_REMOVAL || active < quorumSize(remaining.length)) {
        w.counters.confChangesRefusedByDriver++;
        w.log(`driver refuses to remove ${victim}: ${remaining.length} voters would remain, ${active} of them active`);
        return;
      }
    }
    this.propose(leader, { type: ConfChangeType.RemoveMember, nodeId: victim, context: new Uint8Array(0) });
  }

  /** Proposes a change through the leader's core. Returns whether it was accepted. */
  private propose(leader: WorldMember, change: ConfChange): boolean {
    return requestConfChange(this.world, leader, change) !== undefined;
  }

  private transfer(): void {
    if (!this.active) {
      return;
    }
    const w = this.world;
    const leader = w.currentLeader();
    const st = leader?.status();
    if (leader !== undefined && st !== undefined) {
      const voters = st.config.voters.filter((v) => v !== leader.id);
      if (voters.length > 0) {
        requestTransfer(w, leader, w.faultRandom.pick(voters));
      }
    }
    w.schedule(w.faultRandom.exponential(w.profile.transferGapMs), () => this.transfer());
  }
}
