/**
 * The liveness phase: every fault healed (network whole, no drops or duplicates, no latency
 * tails, snapshot transfers reliable), crashed members restarted, removed members shut down.
 * Then, each within a bound, in order:
 *
 *   1. leader    — a leader is elected;
 *   2. clients   — every client completes a new operation;
 *   3. read-only — clients switch to reads only and finish the writes they have in flight,
 *                  and the leader is a voter of its configuration (a leader removing itself
 *                  steps down once the removal commits; the next one is awaited);
 *   4. probe     — the leader is crashed once and a leader of a higher term is elected. With
 *                  at least 3 voters the others elect it (the clean re-election time) and the
 *                  crashed member restarts afterwards; with 1 or 2 voters no quorum remains
 *                  without it, so it restarts PROBE_RESTART_MS after the crash and the new
 *                  term's leader is elected with it. Every seed thus checks step 5;
 *   5. own-term  — with no client writes, the new leader commits an entry of its own term
 *                  within OWN_TERM_COMMIT_MS of its election (seen in its Ready stream: §8's
 *                  no-op; without it nothing of the new term commits and reads wait forever),
 *                  and every client completes a read;
 *   6. settle    — clients go back to their mix; every client completes another operation and
 *                  every proposal pending when this step began resolves (applied, or
 *                  definitely failed);
 *   7. converge  — clients stop; every member of the leader's configuration is up, has applied
 *                  everything the leader committed, with the same chain digest.
 *
 * A step that misses its bound is a liveness violation describing every member's state.
 */
import { quorumSize } from '@keyval/raft';
import type { RaftStatus } from '@keyval/raft';
import type { WorldMember } from './member-kind';
import type { SimWorld } from './sim-world';
import { SimViolation, ViolationKind } from './sim.errors';

/** Bounds per step, in simulated ms. */
export const LIVENESS_BOUNDS_MS = { leader: 10_000, clients: 10_000, 'read-only': 10_000, probe: 10_000, 'own-term': 10_000, settle: 20_000, converge: 15_000 } as const;
/** A new leader commits an entry of its term within this long of its election (no client writes). */
export const OWN_TERM_COMMIT_MS = 2_000;
/** With fewer than 3 voters, the probe's crashed leader restarts this long after the crash. */
export const PROBE_RESTART_MS = 100;
/** The whole phase never runs longer than this (the sum of the bounds plus slack). */
export const LIVENESS_MAX_MS = 100_000;
const POLL_MS = 10;

type Step = keyof typeof LIVENESS_BOUNDS_MS | 'done';

export class LivenessPhase {
  private step: Step = 'leader';
  private stepStartMs = 0;
  private startMs = 0;
  /** Time from healing to the first leader, in ms. */
  recoveryMs: number | undefined = undefined;
  /**
   * The probe: the crashed leader, its term, when it crashed, whether the other voters form a
   * quorum without it (then the re-election time is measured), and the term that followed.
   */
  private probe: { member: WorldMember; term: number; atMs: number; quorumWithout: boolean; newTerm: number | undefined } | undefined = undefined;
  /** Clean re-election after the probe's crash (only when at least 3 voters: the others elect). */
  probeReelectionMs: number | undefined = undefined;
  /** Time from the probe's new leader's election to its first commit of its own term. */
  ownTermCommitMs: number | undefined = undefined;
  /** Proposals pending when the settle step began (they must all resolve). */
  private settling = new Set<string>();

  constructor(private readonly world: SimWorld) {
    world.leaderListeners.push((member, term) => this.onLeader(member, term));
  }

  get done(): boolean {
    return this.step === 'done';
  }

  begin(): void {
    const w = this.world;
    this.startMs = w.now;
    w.log('LIVENESS phase: heal everything, restart crashed members');
    w.network.heal();
    const delay = w.profile.network.delay;
    w.network.faults = { dropProb: 0, dupProb: 0, delay: { ...delay, tailProb: 0 } };
    w.snapshotFailProb = 0;
    w.fsyncModel = { ...w.profile.disk.fsync, tailProb: 0 };
    for (const member of w.members.values()) {
      if (member.removed && member.up) {
        w.scheduleShutdown(member.num, 0);
      } else if (!member.removed && !member.up) {
        member.start();
      }
    }
    this.enter('leader');
  }

  private enter(step: Step): void {
    this.step = step;
    this.stepStartMs = this.world.now;
    if (step === 'settle') {
      for (const client of this.world.clients) {
        client.setReadOnly(false);
      }
      this.settling = new Set(this.pendingIds());
    }
    if (step !== 'done') {
      this.world.log(`liveness: waiting for ${step}`);
      this.world.schedule(POLL_MS, () => this.poll());
    }
  }

  private poll(): void {
    if (this.step === 'done') {
      return;
    }
    if (this.check(this.step)) {
      return;
    }
    if (this.world.now - this.stepStartMs > LIVENESS_BOUNDS_MS[this.step]) {
      throw new SimViolation(ViolationKind.Liveness, `${this.stuckReason(this.step)} within ${LIVENESS_BOUNDS_MS[this.step]} ms of the liveness phase's "${this.step}" step\n${this.memberStates()}`);
    }
    this.world.schedule(POLL_MS, () => this.poll());
  }

  /** Checks the step's condition; on success moves on and returns true. */
  private check(step: Exclude<Step, 'done'>): boolean {
    const w = this.world;
    switch (step) {
      case 'leader':
        if (w.currentLeader() === undefined) {
          return false;
        }
        this.recoveryMs = w.now - this.startMs;
        this.enter('clients');
        return true;
      case 'clients':
        if (!this.clientsSucceededSince(this.stepStartMs)) {
          return false;
        }
        if (w.classicChecks) {
          // The classic phase: the probe with clients still writing, no own-term check.
          if (!this.leaderIsVoter()) {
            return false;
          }
          this.startProbe();
          return true;
        }
        for (const client of w.clients) {
          client.setReadOnly(true);
        }
        this.enter('read-only');
        return true;
      case 'read-only':
        if (!w.clients.every((c) => c.readingOrIdle) || !this.leaderIsVoter()) {
          return false;
        }
        this.startProbe();
        return true;
      case 'probe':
        if (this.probe?.newTerm === undefined) {
          return false;
        }
        if (!this.probe.member.up && !this.probe.member.removed) {
          this.probe.member.start();
        }
        this.enter(w.classicChecks ? 'settle' : 'own-term');
        return true;
      case 'own-term':
        if (!this.ownTermCommitted() || !this.clientsSucceededSince(this.stepStartMs)) {
          return false;
        }
        this.enter('settle');
        return true;
      case 'settle':
        if (!this.clientsSucceededSince(this.stepStartMs) || this.stillPending(this.settling) > 0) {
          return false;
        }
        for (const client of w.clients) {
          client.stop();
        }
        this.enter('converge');
        return true;
      case 'converge':
        if (w.clients.some((c) => c.busy) || this.divergence() !== undefined) {
          return false;
        }
        w.log('liveness: converged');
        this.enter('done');
        return true;
    }
  }

  /**
   * Whether the current leader has committed an entry of its own term (as its Ready stream
   * shows). Throws when it has led for OWN_TERM_COMMIT_MS without doing so.
   */
  private ownTermCommitted(): boolean {
    const w = this.world;
    const leader = w.currentLeader();
    const term = leader?.leaderTerm();
    if (leader === undefined || term === undefined) {
      return false;
    }
    const electedMs = w.protocol.leaderObservedAt(term) ?? w.now;
    const committedMs = w.protocol.ownTermCommitAt(term);
    if (committedMs !== undefined) {
      this.ownTermCommitMs ??= committedMs - electedMs;
      return true;
    }
    if (w.now - electedMs > OWN_TERM_COMMIT_MS) {
      throw new SimViolation(
        ViolationKind.Liveness,
        `leader m${leader.num} of term ${term}, elected at ${electedMs} ms, has committed no entry of its term within ${OWN_TERM_COMMIT_MS} ms (clients only read; §8: a new leader commits an entry of its term at once)\n${this.memberStates()}`,
      );
    }
    return false;
  }

  /** Whether there is a leader and it is a voter of its configuration (probe-able). */
  private leaderIsVoter(): boolean {
    const leader = this.world.currentLeader();
    const st = leader?.status();
    return leader !== undefined && st !== undefined && st.config.voters.includes(leader.id);
  }

  private startProbe(): void {
    const w = this.world;
    const leader = w.currentLeader() as WorldMember;
    const st = leader.status() as RaftStatus;
    // Voters that refused a damaged disk stay down: they do not count towards the quorum left.
    const running = st.config.voters.filter((v) => w.members.get(Number(v))?.retired !== true).length;
    const quorumWithout = running >= 3 && running - 1 >= quorumSize(st.config.voters.length);
    this.probe = { member: leader, term: st.term, atMs: w.now, quorumWithout, newTerm: undefined };
    w.log(`liveness: probe crashes leader m${leader.num} of term ${st.term} (${st.config.voters.length} voters)`);
    w.crash(leader, true);
    if (!quorumWithout) {
      // No quorum without it: it comes back, and the new term's leader is elected with it.
      w.schedule(PROBE_RESTART_MS, () => {
        if (!leader.up && !leader.removed) {
          w.log(`liveness: probe restarts m${leader.num}`);
          leader.start();
        }
      });
    }
    this.enter('probe');
  }

  private onLeader(_member: WorldMember, term: number): void {
    const probe = this.probe;
    if (probe === undefined || probe.newTerm !== undefined || term <= probe.term) {
      return;
    }
    probe.newTerm = term;
    if (probe.quorumWithout) {
      this.probeReelectionMs = this.world.now - probe.atMs;
    }
  }

  private clientsSucceededSince(ms: number): boolean {
    return this.world.clients.every((c) => c.lastOkCallMs >= ms);
  }

  /** Every proposal pending at any running member. */
  private pendingIds(): string[] {
    return [...this.world.members.values()].flatMap((m) => m.pendingProposalIds());
  }

  /** How many of `ids` are still pending (a crashed member's proposals are forgotten). */
  private stillPending(ids: ReadonlySet<string>): number {
    if (ids.size === 0) {
      return 0;
    }
    return this.pendingIds().filter((id) => ids.has(id)).length;
  }

  /** Why the cluster has not converged yet, or undefined when it has. */
  private divergence(): string | undefined {
    const leader = this.world.currentLeader();
    const st = leader?.status();
    if (leader === undefined || st === undefined) {
      return 'no leader';
    }
    if (st.commit !== st.lastIndex || leader.appliedIndex !== st.commit) {
      return `leader m${leader.num} has commit ${st.commit}, last ${st.lastIndex}, applied ${leader.appliedIndex}`;
    }
    for (const id of [...st.config.voters, ...st.config.learners]) {
      const m = this.world.members.get(Number(id));
      if (m?.retired === true) {
        continue; // refused its damaged disk: the others converge without it
      }
      if (m === undefined || !m.up) {
        return `member ${id} of the configuration is not running`;
      }
      if (m.appliedIndex !== st.commit || m.chainDigest !== leader.chainDigest) {
        return `m${m.num} applied ${m.appliedIndex} (digest ${m.chainDigest}), leader committed ${st.commit} (digest ${leader.chainDigest})`;
      }
      if (m.pendingProposalCount() > 0) {
        return `m${m.num} still has ${m.pendingProposalCount()} pending proposals`;
      }
    }
    return undefined;
  }

  private stuckReason(step: Exclude<Step, 'done'>): string {
    switch (step) {
      case 'leader':
        return 'no leader elected';
      case 'clients':
      case 'own-term':
      case 'settle': {
        const stuck = this.world.clients.filter((c) => c.lastOkCallMs < this.stepStartMs).map((c) => `c${c.index}`);
        return `clients ${stuck.join(',') || '(none)'} did not complete an operation, ${this.stillPending(this.settling)} proposals from the step's start pending,`;
      }
      case 'read-only': {
        const writing = this.world.clients.filter((c) => !c.readingOrIdle).map((c) => `c${c.index}`);
        return writing.length > 0 ? `clients ${writing.join(',')} did not finish their writes` : 'no leader that is a voter of its configuration';
      }
      case 'probe':
        return `no leader of a term above ${this.probe?.term ?? '?'} after crashing leader m${this.probe?.member.num ?? '?'}`;
      case 'converge':
        return `not converged (${this.divergence() ?? 'clients busy'})`;
    }
  }

  memberStates(): string {
    return [...this.world.members.values()].map((m) => `  ${m.describe()}`).join('\n');
  }
}
