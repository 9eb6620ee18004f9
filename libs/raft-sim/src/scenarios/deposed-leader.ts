/**
 * A deposed leader still serving reads (§6.4, §6.4.1), with clock drift at the extremes the
 * lease allows for: every member's clock runs 3-5 % fast or slow. Clients read hard (most of
 * their operations; all of them lease reads when the seed enables leases, ReadIndex reads
 * otherwise) from the member they believe leads. Several times per seed the leader is cut off while it holds a fresh
 * lease, in one of three ways:
 *
 *   - isolated: nobody hears it, it hears nobody;
 *   - bridged: a bridge member B talks to both sides, neither of which is a majority without
 *     it — the far side times out and asks B, who still hears the leader (check-quorum's
 *     vote guard must refuse);
 *   - minority: it keeps one follower, the majority side elects a new leader.
 *
 * Before each cut, leadership moves to a member whose clock runs slow (its lease lasts
 * longest in real time); most cuts stop client writes (so the far side's logs stay up to date
 * and only the lease keeps them from electing), and most have the far side's fastest clock
 * campaign as early as the voters' guard lets it.
 *
 * A correct leader serves no read that arrives after the new leader's election (the
 * stale-read check); a leader that reads without a heartbeat round, a lease without the vote
 * guard or without the drift margin does, in the window before it steps down.
 */
import { Role } from '@keyval/raft';
import type { FaultProfile } from '../fault-profile';
import type { SimRandom } from '../sim-random';
import type { SimMember } from '../sim-member';
import { requestTransfer } from '../operator-requests';
import { calmProfile, extremeClocks, scenarioRaft } from './scenario';
import type { Scenario } from './scenario';
import type { ScenarioContext, Script, Wait } from './script';

type Cut = 'isolated' | 'bridged' | 'minority';

export const deposedLeader: Scenario = {
  name: 'deposed-leader',
  summary: 'a leader cut off while clients read from it (ReadIndex and leases, clocks drifting both ways)',
  maxMs: 12_000,
  profile: (base: FaultProfile, r: SimRandom) => {
    const members = r.pick([3, 3, 5]);
    const raft = scenarioRaft(r, { checkQuorum: r.chance(0.85), leaseReads: r.chance(0.75) });
    return calmProfile('deposed-leader', base, r, {
      members,
      raft,
      clockDrift: 0.05,
      clockRates: extremeClocks(r, members, r.pick([0.03, 0.05])),
      clients: {
        ...base.clients,
        count: r.between(5, 8),
        thinkMaxMs: r.between(0, 5),
        randomMemberProb: 0,
        // Only lease reads when leases are on: a ReadIndex read to a cut-off leader blocks its
        // client until the attempt times out, and the clients would soon all be blocked.
        leaseReadProb: raft.leaseReads ? 1 : 0,
        opMix: [['get', 8], ['put', 2], ['cas', 1], ['delete', 0]],
      },
    });
  },
  script: (s) => run(s),
};

function* run(s: ScenarioContext): Script {
  const rounds = s.r.between(4, 7);
  for (let round = 0; round < rounds; round++) {
    const leader = yield* slowLeader(s);
    if (leader === undefined) {
      return s.log('deposed leader: no leader');
    }
    // Let a lease form (a few heartbeat rounds acknowledged), then cut at a random phase.
    yield s.sleep(s.r.between(80, 300));
    if (!s.isLeader(leader)) {
      continue;
    }
    const term = leader.core().term;
    const far = cut(s, leader);
    // Without writes the far side's logs stay as long as the leader's: only the lease (the
    // voters' check-quorum guard) stands between a candidate there and an election.
    const readOnly = s.r.chance(0.7);
    setReadOnly(s, readOnly);
    // The fastest clock on the far side campaigns as early as the guard allows (as a follower
    // whose randomized timeout came out at T, with the worst phase, would).
    const eager = s.r.chance(0.7) ? fastest(s, far) : undefined;
    let elected = false;
    const deadline = s.now + s.r.between(400, 1500);
    if (eager !== undefined) {
      yield s.sleep(s.world.profile.electionTimeoutTicks * s.world.profile.tickMs * 0.6);
    }
    // A pre-vote changes no term, so a pre-candidate may ask again; a candidate is left to
    // collect its votes (asking again would start a new term each time).
    while (!elected && s.now < deadline) {
      const current = s.world.currentLeader();
      elected = current !== undefined && current !== leader && (current.leaderTerm() ?? 0) > term;
      const role = eager?.node?.role;
      if (!elected && eager !== undefined && eager.up && (role === Role.Follower || role === Role.PreCandidate)) {
        eager.input(() => eager.core().campaign());
      }
      yield s.sleep(3);
    }
    if (elected && s.isLeader(leader)) {
      s.sprung(`m${leader.num} still leads term ${term} after a newer leader was elected`);
    }
    // Keep reading from the old leader a while after the new one exists.
    yield s.sleep(s.r.between(50, 400));
    s.heal();
    setReadOnly(s, false);
  }
}

/** The leader, moved to a member with a slow clock when there is one (its lease lasts longest). */
function* slowLeader(s: ScenarioContext): Generator<Wait, SimMember | undefined, boolean> {
  const leader = yield* s.leader(3000);
  if (leader === undefined || rate(s, leader.num) > 1) {
    return leader;
  }
  const voters = (s.status(leader)?.config.voters ?? []).map(Number).filter((n) => n !== leader.num && rate(s, n) > 1);
  if (voters.length === 0) {
    return leader;
  }
  const target = s.member(s.r.pick(voters));
  requestTransfer(s.world, leader, target.id);
  yield s.until(() => s.isLeader(target), 1000);
  return yield* s.leader(2000);
}

/** Cuts `leader` off one of three ways; returns the members on the far side. */
function cut(s: ScenarioContext, leader: SimMember): number[] {
  const others = s.r.shuffled(s.allIds().filter((n) => n !== leader.num));
  const how: Cut = s.r.pick(['isolated', 'bridged', 'minority']);
  let far: number[];
  if (how === 'isolated') {
    far = others;
    s.isolate(leader.num);
  } else if (how === 'bridged') {
    // others[0] is the bridge: it keeps every link. Neither side is a majority without it.
    const near = others.slice(1, 1 + Math.floor((others.length + 1) / 2) - 1);
    far = others.slice(1 + near.length);
    s.partition([[leader.num, ...near], far]);
  } else {
    const keep = others.slice(0, Math.floor((others.length + 1) / 2) - 1);
    far = others.slice(keep.length);
    s.partition([[leader.num, ...keep], far]);
  }
  s.log(`deposed leader: m${leader.num} of term ${leader.core().term} ${how}; far side ${far.join(',')}`);
  return far;
}

/** A member's clock rate: its tick period is tickMs x rate (above 1: a slow clock). */
function rate(s: ScenarioContext, num: number): number {
  return s.world.profile.clockRates?.[num] ?? 1;
}

/** The member of `nums` whose clock runs fastest (shortest tick period). */
function fastest(s: ScenarioContext, nums: readonly number[]): SimMember | undefined {
  const up = nums.map((n) => s.member(n)).filter((m) => m.up);
  return up.sort((a, b) => rate(s, a.num) - rate(s, b.num) || a.num - b.num)[0];
}

function setReadOnly(s: ScenarioContext, readOnly: boolean): void {
  for (const client of s.world.clients) {
    client.setReadOnly(readOnly);
  }
}
