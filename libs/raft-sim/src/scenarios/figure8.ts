/**
 * Figure 8 of the Raft paper (§5.4.2), on five members: an entry of an old term ends up on a
 * majority under a later leader, who must not count it committed — if it does and crashes, a
 * leader that never had the entry is elected and overwrites it.
 *
 *   (a) L1 (term t1) appends entries only A receives (partition {L1, A} | rest);
 *   (b) L1 crashes; the rest elect L2 (t2), which is cut off the moment it wins, appends its
 *       no-op alone, and crashes;
 *   (c) L1 restarts; L1 or A (holders of the t1 suffix) wins term t3 talking only to the
 *       other holder H and to B, and replicates the old suffix to B one entry per message: the
 *       suffix is now on a majority {L1, A, B}, acknowledged to L3, while the t3 no-op is on
 *       L3 and H only. A correct leader does not commit the suffix;
 *   (d) the moment B has acknowledged the suffix, L3 is cut off and crashed; the other holder
 *       is kept apart; L2 restarts and campaigns until it wins: its last term t2 is newer than
 *       anyone's, so B, C and D all grant it (once B's lease from L3 lapses), and it
 *       overwrites the suffix.
 *
 * With a leader that commits by counting replicas of an old term, (c) commits and applies the
 * suffix and (d) loses it: the commit-rule check sees (c), state-machine safety sees (d).
 */
import { Role } from '@keyval/raft';
import type { FaultProfile } from '../fault-profile';
import type { SimMember } from '../sim-member';
import type { SimRandom } from '../sim-random';
import { calmProfile, scenarioRaft } from './scenario';
import type { Scenario } from './scenario';
import type { ScenarioContext, Script } from './script';

export const figure8: Scenario = {
  name: 'figure8',
  summary: 'an old-term entry reaches a majority under a later leader, which crashes before its own entry does (§5.4.2)',
  maxMs: 8_000,
  profile: (base: FaultProfile, r: SimRandom) =>
    calmProfile('figure8', base, r, {
      members: 5,
      snapshotEvery: 0,
      snapshotTrailing: 0,
      raft: { ...scenarioRaft(r, { preVote: r.chance(0.85) }), maxInflightMessages: 1, maxMessageBytes: 64 },
      clients: { ...base.clients, count: r.between(3, 5), thinkMaxMs: r.between(0, 10), opMix: [['get', 1], ['put', 3], ['cas', 1], ['delete', 1]] },
    }),
  script: (s) => run(s),
};

function* run(s: ScenarioContext): Script {
  const l1 = yield* s.steadyLeader('figure 8', 100, 400);
  if (l1 === undefined) {
    return;
  }
  const t1 = l1.core().term;
  const [a, b, c, d] = s.r.shuffled(s.allIds().filter((n) => n !== l1.num)) as [number, number, number, number];
  const holder = s.member(a);
  // (a) entries of term t1 that only A receives.
  s.partition([[l1.num, a], [b, c, d]]);
  const suffix = yield s.until(() => {
    const st = s.status(l1);
    const log = holder.disk.volatile;
    return st !== undefined && st.role === Role.Leader && log.lastIndex() >= st.commit + 2 && log.term(log.lastIndex()) === t1;
  }, 2000);
  if (!suffix) {
    return s.log('figure 8: no uncommitted t1 entries on the minority');
  }
  const last = holder.disk.volatile.lastIndex();
  s.log(`figure 8: (a) m${l1.num} and m${a} hold t${t1} entries up to ${last}, uncommitted`);
  // (b) L1 crashes; the rest elect L2, which is cut off as soon as it wins.
  s.crash(l1);
  s.heal();
  s.partition([[l1.num], [a], [b, c, d]]);
  let l2: SimMember | undefined;
  s.afterInput((m) => {
    if ([b, c, d].includes(m.num) && s.isLeader(m) && m.core().term > t1) {
      l2 = m;
      s.isolate(m.num);
      return true;
    }
    return false;
  });
  if (!(yield s.until(() => l2 !== undefined, 3000)) || l2 === undefined) {
    return s.log('figure 8: no second leader');
  }
  const second = l2;
  const t2 = second.core().term;
  yield s.sleep(s.r.between(10, 60));
  s.crash(second);
  s.log(`figure 8: (b) m${second.num} led term ${t2} alone and crashed`);
  yield* thirdLeader(s, l1, a, second, t1, last);
}

/** (c) and (d): a holder of the old suffix leads, replicates it to one more member, and is lost. */
function* thirdLeader(s: ScenarioContext, l1: SimMember, a: number, l2: SimMember, t1: number, last: number): Script {
  const others = s.allIds().filter((n) => n !== l1.num && n !== a && n !== l2.num);
  s.heal();
  s.partition([[l1.num, a, ...others], [l2.num]]);
  s.restart(l1);
  let l3: SimMember | undefined;
  let b = 0;
  s.afterInput((m) => {
    if ((m.num === l1.num || m.num === a) && s.isLeader(m) && m.core().term > t1) {
      l3 = m;
      b = s.r.pick(others);
      // The new leader hears the other holder (which acknowledges the suffix it already has,
      // and the t3 no-op) and B; the rest are cut off from it.
      const group = [l1.num, a, b];
      s.heal();
      s.partition([group, s.allIds().filter((n) => !group.includes(n))]);
      return true;
    }
    return false;
  });
  if (!(yield s.until(() => l3 !== undefined, 4000)) || l3 === undefined) {
    return s.log('figure 8: the holders of the old suffix did not win');
  }
  const third = l3;
  const t3 = third.core().term;
  s.log(`figure 8: (c) m${third.num} leads term ${t3}, replicating the t${t1} suffix to m${b}`);
  // The moment B has acknowledged the old suffix, before the t3 no-op reaches it: cut L3 off.
  let acked = false;
  s.afterInput((m) => {
    if (m !== third || acked) {
      return acked;
    }
    const match = third.node?.status().progress?.get(s.member(b).id)?.match ?? 0;
    if (match >= last) {
      acked = true;
      s.isolate(third.num);
    }
    return acked;
  });
  if (!(yield s.until(() => acked || !s.isLeader(third), 3000)) || !acked) {
    return s.log(`figure 8: m${b} did not acknowledge the old suffix in time`);
  }
  s.log(`figure 8: m${b} acknowledged up to ${last}; m${third.num}'s commit is ${third.node?.status().commit ?? '?'}`);
  // (d) L3 crashes; L2 returns and campaigns at once: its last term (t2) is newer than
  // everyone's (t1 at most), so every member grants it, B included, and it overwrites the suffix.
  s.crash(third);
  const other = third.num === l1.num ? a : l1.num;
  s.heal();
  s.isolate(other);
  s.restart(l2);
  for (let k = 0; k < 150 && !s.isLeader(l2); k++) {
    if (s.world.currentLeader() !== undefined) {
      break;
    }
    l2.input(() => l2.core().campaign());
    yield s.sleep(20);
  }
  const l4 = yield* s.leader(1000, (m) => m === l2);
  if (l4 === undefined) {
    s.log('figure 8: the old t2 leader did not win again');
  } else {
    s.sprung(`(d) m${l2.num} leads term ${l2.core().term} over the t${t1} suffix up to ${last}`);
  }
  yield s.sleep(s.r.between(200, 500));
  s.heal();
}
