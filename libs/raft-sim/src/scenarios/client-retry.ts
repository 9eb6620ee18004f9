/**
 * Clients retrying across leader changes: writers keep proposals in flight while leadership
 * moves every few hundred milliseconds — a transfer, a crash, an isolation or a long pause of
 * the leader. Every proposal must be answered by the ProposalTicket contract (the entry applied
 * at its index has its term: done; another term: definitely not done, retry; a snapshot skipped
 * past it: unknown), so a retried write is never applied twice and an acknowledged one never
 * lost (duplicate-apply, lost-write and linearizability checks).
 */
import type { FaultProfile } from '../fault-profile';
import type { SimRandom } from '../sim-random';
import { requestTransfer } from '../operator-requests';
import { calmProfile, scenarioRaft } from './scenario';
import type { Scenario } from './scenario';
import type { ScenarioContext, Script } from './script';

export const clientRetry: Scenario = {
  name: 'client-retry',
  summary: 'writers retrying while leadership moves (transfers, crashes, isolation, pauses)',
  maxMs: 12_000,
  profile: (base: FaultProfile, r: SimRandom) =>
    calmProfile('client-retry', base, r, {
      members: r.pick([3, 5]),
      raft: scenarioRaft(r, {}),
      snapshotEvery: r.pick([0, r.between(5, 30)]),
      snapshotTrailing: r.between(0, 5),
      clients: {
        ...base.clients,
        count: r.between(3, 5),
        thinkMaxMs: r.between(0, 10),
        attemptTimeoutMs: r.between(300, 1200),
        opDeadlineMs: r.between(1500, 4000),
        opMix: [['get', 2], ['put', 3], ['cas', 3], ['delete', 1]],
      },
    }),
  script: (s) => run(s),
};

function* run(s: ScenarioContext): Script {
  const changes = s.r.between(6, 12);
  let moved = 0;
  for (let k = 0; k < changes; k++) {
    const leader = yield* s.leader(4000);
    if (leader === undefined) {
      return s.log('client retry: no leader');
    }
    yield s.sleep(s.r.between(30, 250));
    if (!s.isLeader(leader)) {
      continue;
    }
    const how = s.r.pick(['transfer', 'crash', 'isolate', 'pause']);
    s.log(`client retry: ${how} leader m${leader.num}`);
    if (++moved === 4) {
      s.sprung('four leadership changes forced with writes in flight');
    }
    if (how === 'transfer') {
      const voters = (s.status(leader)?.config.voters ?? []).filter((v) => v !== leader.id);
      if (voters.length > 0) {
        requestTransfer(s.world, leader, s.r.pick(voters));
      }
    } else if (how === 'crash') {
      s.crash(leader);
      const downMs = s.r.between(50, 500);
      s.world.schedule(downMs, () => s.restart(leader));
    } else if (how === 'isolate') {
      s.isolate(leader.num);
      yield s.sleep(s.r.between(200, 700));
      s.heal();
    } else {
      leader.pause(s.now + s.r.between(100, 600));
    }
  }
}
