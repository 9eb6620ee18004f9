/**
 * A snapshot arrives while the follower holds a conflicting suffix (§7: keep the log after the
 * snapshot only if the entry at its index has its term; otherwise discard it all).
 *
 *   1. on five members, leader L1 (no check-quorum here, so it keeps leading) and follower F
 *      are cut off from the rest; a burst of writes L1 accepts reaches only F: a long
 *      uncommitted suffix of term t1;
 *   2. L1 crashes and F stays cut off; the rest elect L2, commit past F's suffix and compact
 *      their logs (a snapshot every few entries, nothing kept behind it);
 *   3. when L2's snapshot index falls inside F's conflicting suffix, F rejoins: L2 no longer
 *      has the entries F lacks and sends its snapshot — whose index F's log covers, with
 *      another term there.
 *
 * A correct F discards its suffix and installs the snapshot; one that keeps a log "long
 * enough" commits and applies its own conflicting entries (state-machine safety).
 */
import type { LogIndex } from '@keyval/raft';
import { SimWorld } from '../sim-world';
import type { FaultProfile } from '../fault-profile';
import type { SimRandom } from '../sim-random';
import { calmProfile, scenarioRaft } from './scenario';
import type { Scenario } from './scenario';
import type { ScenarioContext, Script } from './script';

export const snapshotConflict: Scenario = {
  name: 'snapshot-conflict',
  summary: 'a snapshot reaches a follower whose log has a conflicting suffix past the snapshot index (§7)',
  maxMs: 10_000,
  profile: (base: FaultProfile, r: SimRandom) => {
    const every = r.between(3, 6);
    return calmProfile('snapshot-conflict', base, r, {
      members: 5,
      raft: scenarioRaft(r, { checkQuorum: false }),
      snapshotEvery: every,
      snapshotTrailing: 0,
      snapshotTransferMs: { baseMs: r.between(1, 5), jitterMs: r.between(1, 10), tailProb: 0, tailMeanMs: 0 },
      clients: { ...base.clients, count: r.between(3, 5), thinkMaxMs: r.between(0, 10), opMix: [['get', 1], ['put', 3], ['cas', 1], ['delete', 1]] },
    });
  },
  script: (s) => run(s),
};

function* run(s: ScenarioContext): Script {
  const l1 = yield* s.steadyLeader('snapshot conflict', 100, 300);
  if (l1 === undefined) {
    return;
  }
  const [f, ...rest] = s.r.shuffled(s.allIds().filter((n) => n !== l1.num)) as [number, ...number[]];
  const follower = s.member(f);
  const diverge = Math.max(...rest.map((n) => s.member(n).disk.volatile.lastIndex())) + 1;
  s.partition([[l1.num, f], rest]);
  const length = s.r.between(8, 20);
  s.proposeWrites(l1, length + 1);
  if (!(yield s.until(() => follower.disk.volatile.lastIndex() >= diverge + length, 2000))) {
    return s.log('snapshot conflict: the minority did not grow a suffix');
  }
  const fLast = follower.disk.volatile.lastIndex();
  s.log(`snapshot conflict: m${f} holds an uncommitted suffix ${diverge}..${fLast}`);
  s.crash(l1);
  s.heal();
  s.partition([[l1.num], [f], rest]);
  const inRange = (): boolean => {
    const leader = s.world.currentLeader();
    if (leader === undefined || !rest.includes(leader.num)) {
      return false;
    }
    const l2 = SimWorld.sim(leader);
    const snap = l2.disk.volatile.snapshotMeta();
    return snap.index > diverge && snap.index <= fLast && snap.index >= follower.disk.volatile.firstIndex() && follower.disk.volatile.term(snap.index as LogIndex) !== snap.term;
  };
  if (!(yield s.until(inRange, 5000))) {
    return s.log('snapshot conflict: the new leader did not compact into the suffix in time');
  }
  const l2 = s.world.currentLeader();
  s.log(`snapshot conflict: m${l2?.num ?? '?'} compacted to ${l2 === undefined ? '?' : SimWorld.sim(l2).disk.volatile.snapshotMeta().index ?? '?'}; m${f} rejoins`);
  s.heal();
  s.partition([[l1.num], s.allIds().filter((n) => n !== l1.num)]);
  const installed = (): number => follower.disk.volatile.snapshotMeta().index;
  if ((yield s.until(() => follower.up && installed() > diverge, 2000)) && installed() <= fLast) {
    s.sprung(`m${f} installed snapshot ${follower.disk.volatile.snapshotMeta().index} over its suffix ${diverge}..${fLast}`);
  }
  yield s.sleep(s.r.between(200, 500));
  s.heal();
}
