/**
 * Membership changes during partitions (dissertation §4.1-4.2: one server at a time, a change
 * takes effect when appended). Each round changes the voter count between odd and even — a
 * new member added as a learner and promoted, added directly as a voter, or a voter removed —
 * and partitions the cluster while the change is in flight or just after it: even halves
 * (2|2, 3|3), the leader alone, or the new member alone. With an even number of voters,
 * neither half of an even split may elect a leader or commit; with a quorum one too small,
 * both do (election safety, leader completeness, state-machine safety, stale reads).
 */
import { ConfChangeType, nodeId } from '@keyval/raft';
import type { FaultProfile } from '../fault-profile';
import type { SimMember } from '../sim-member';
import { MAX_MEMBER_ID } from '../sim-network';
import type { SimRandom } from '../sim-random';
import { requestConfChange } from '../operator-requests';
import { calmProfile, scenarioRaft } from './scenario';
import type { Scenario } from './scenario';
import type { ScenarioContext, Script } from './script';

export const membershipPartition: Scenario = {
  name: 'membership-partition',
  summary: 'voters added and removed (odd <-> even counts) while the cluster is split in halves',
  maxMs: 14_000,
  profile: (base: FaultProfile, r: SimRandom) =>
    calmProfile('membership-partition', base, r, {
      members: r.pick([3, 3, 5]),
      raft: scenarioRaft(r, {}),
      clients: { ...base.clients, count: r.between(3, 5), thinkMaxMs: r.between(0, 15) },
    }),
  script: (s) => run(s),
};

function* run(s: ScenarioContext): Script {
  const rounds = s.r.between(3, 5);
  for (let round = 0; round < rounds; round++) {
    const leader = yield* s.leader(4000);
    if (leader === undefined) {
      return s.log('membership: no leader');
    }
    yield s.sleep(s.r.between(50, 250));
    const st = s.status(leader);
    if (st === undefined || !s.isLeader(leader) || st.commit < st.lastIndex - 1) {
      continue;
    }
    const changed = st.config.voters.length % 2 === 1 && s.world.nextMemberId <= MAX_MEMBER_ID ? yield* addVoter(s, leader) : yield* removeVoter(s, leader);
    if (!changed) {
      continue;
    }
    // Split while the change is in flight or just after it.
    yield s.sleep(s.r.between(0, 40));
    splitVoters(s, leader);
    yield s.sleep(s.r.between(300, 1200));
    s.heal();
  }
}

/** Adds a new member as a voter: through a caught-up learner, or directly. */
function* addVoter(s: ScenarioContext, leader: SimMember): Generator<ReturnType<ScenarioContext['until']>, boolean, boolean> {
  const id = nodeId(s.world.nextMemberId++);
  const empty = new Uint8Array(0);
  if (s.r.chance(0.3)) {
    if (requestConfChange(s.world, leader, { type: ConfChangeType.AddVoter, nodeId: id, context: empty }) === undefined) {
      return false;
    }
    s.world.startNewMember(id);
    return true;
  }
  if (requestConfChange(s.world, leader, { type: ConfChangeType.AddLearner, nodeId: id, context: empty }) === undefined) {
    return false;
  }
  s.world.startNewMember(id);
  const caughtUp = yield s.until(() => {
    const st = s.status(leader);
    const match = st?.progress?.get(id)?.match ?? 0;
    return st !== undefined && st.commit === st.lastIndex && match >= st.lastIndex - 1;
  }, 3000);
  if (!caughtUp || !s.isLeader(leader)) {
    return false;
  }
  return requestConfChange(s.world, leader, { type: ConfChangeType.PromoteLearner, nodeId: id, context: empty }) !== undefined;
}

/** Removes a voter other than the leader (or, now and then, the leader itself). */
function* removeVoter(s: ScenarioContext, leader: SimMember): Generator<ReturnType<ScenarioContext['until']>, boolean, boolean> {
  const st = s.status(leader);
  if (st === undefined || st.config.voters.length <= 3) {
    return false;
  }
  const victim = s.r.chance(0.2) ? leader.id : s.r.pick(st.config.voters.filter((v) => v !== leader.id));
  yield s.sleep(0);
  return requestConfChange(s.world, leader, { type: ConfChangeType.RemoveMember, nodeId: victim, context: new Uint8Array(0) }) !== undefined;
}

/** Splits the voters of the leader's latest configuration into two even halves (or isolates one). */
function splitVoters(s: ScenarioContext, leader: SimMember): void {
  const st = s.status(leader);
  const voters = (st?.config.voters ?? []).map(Number);
  const everyone = s.allIds();
  if (voters.length < 2) {
    return;
  }
  const kind = s.r.pick(['halves', 'halves', 'leader-alone', 'newest-alone']);
  if (kind === 'halves') {
    const shuffled = s.r.shuffled(voters);
    const half = shuffled.slice(0, Math.floor(shuffled.length / 2));
    s.partition([half, everyone.filter((n) => !half.includes(n))]);
    if (voters.length % 2 === 0) {
      s.sprung(`${voters.length} voters split ${half.length}|${voters.length - half.length} with a change in flight`);
    }
  } else if (kind === 'leader-alone') {
    s.isolate(leader.num);
  } else {
    s.isolate(Math.max(...voters));
  }
}
