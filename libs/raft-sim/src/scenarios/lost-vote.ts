/**
 * A follower whose disk lost its unsynced tail votes again (§5.2, Figure 2: a vote must be
 * durable before it is granted). Three members:
 *
 *   1. the leader crashes; the two others time out and one, C, asks the other, V, for its vote;
 *   2. V crashes the moment it has issued the fsync recording its vote for C — before the fsync
 *      completes, so the vote and the new term are lost;
 *   3. C is cut off; V and the old leader restart (in the term before the election) and one of
 *      them asks the other for a vote in the same term C asked in.
 *
 * A correct V never granted C (its grant waits for the fsync that never completed), so only one
 * leader can win that term. A V that granted first gave C the term, and grants it again now:
 * two leaders in one term (election safety), and the durable-promise check sees the grant leave
 * before the vote was durable.
 */
import { NO_NODE } from '@keyval/raft';
import type { FaultProfile } from '../fault-profile';
import type { SimMember } from '../sim-member';
import type { SimRandom } from '../sim-random';
import { calmProfile, scenarioRaft } from './scenario';
import type { Scenario } from './scenario';
import type { ScenarioContext, Script } from './script';

export const lostVote: Scenario = {
  name: 'lost-vote',
  summary: 'a voter crashes before its vote is durable, restarts in the old term and is asked again in the same term',
  maxMs: 6_000,
  profile: (base: FaultProfile, r: SimRandom) =>
    calmProfile('lost-vote', base, r, {
      members: 3,
      raft: scenarioRaft(r, { leaseReads: r.chance(0.3) }),
      disk: { fsync: { baseMs: r.between(1, 5), jitterMs: r.between(1, 10), tailProb: 0, tailMeanMs: 0 }, writebackProb: 0 },
    }),
  script: (s) => run(s),
};

function* run(s: ScenarioContext): Script {
  const leader = yield* s.steadyLeader('lost vote', 100, 300);
  if (leader === undefined) {
    return;
  }
  // The first member to fsync a vote for another member crashes before the fsync completes.
  let voter: SimMember | undefined;
  let candidate = NO_NODE;
  let term = 0;
  s.armCrash(
    (writer) => {
      voter = writer;
      s.crash(writer, true);
    },
    (writer, fsync) => {
      const hard = fsync.hardState;
      if (!fsync.voteChanged || hard === undefined || hard.vote === NO_NODE || hard.vote === writer.id) {
        return false;
      }
      candidate = hard.vote;
      term = hard.term;
      return true;
    },
  );
  s.crash(leader);
  s.log(`lost vote: leader m${leader.num} crashed`);
  if (!(yield s.until(() => voter !== undefined, 3000)) || voter === undefined) {
    return s.log('lost vote: nobody voted for another member in time');
  }
  const v = voter;
  s.log(`lost vote: m${v.num} crashed before its vote for ${candidate} in term ${term} was durable`);
  s.isolate(Number(candidate));
  yield s.sleep(s.r.between(5, 50));
  s.restart(v);
  s.restart(leader);
  // A second candidate asks in the same term (or later: then there is nothing to see).
  const second = yield* s.leader(3000, (m) => m.num !== Number(candidate));
  if (second === undefined) {
    s.log('lost vote: no second leader');
  } else if (second.core().term === term) {
    s.sprung(`m${second.num} leads term ${term}, the term m${v.num} had voted for ${candidate} in`);
  } else {
    s.log(`lost vote: m${second.num} leads term ${second.core().term}, not ${term}`);
  }
  yield s.sleep(s.r.between(100, 300));
  s.heal();
}
