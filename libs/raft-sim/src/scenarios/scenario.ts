/**
 * What a targeted schedule is: a profile (the seed's own, made calm and shaped for the trap:
 * cluster size, Raft options, clock rates, clients) and a script that springs the trap during
 * the safety phase instead of the random fault injector. The liveness phase and the end checks
 * are the same as for random seeds.
 */
import type { FaultProfile, RaftOptions } from '../fault-profile';
import type { SimRandom } from '../sim-random';
import type { ScenarioContext, Script } from './script';

export interface Scenario {
  readonly name: string;
  /** One line: the trap it sets. */
  readonly summary: string;
  /** Longest the script may run (simulated ms) before the liveness phase begins. */
  readonly maxMs: number;
  /** The seed's profile shaped for this scenario (draws from `r`, never from the profile stream). */
  profile(base: FaultProfile, r: SimRandom): FaultProfile;
  script(s: ScenarioContext): Script;
}

/**
 * The seed's profile without random faults: no drops, duplicates or latency tails, quick
 * fsyncs, no unsynced writes written back on a crash unless the scenario says so. The
 * script is the only source of faults.
 */
export type ProfileChanges = Partial<Omit<FaultProfile, 'raft'>> & { readonly raft?: Partial<RaftOptions> };

export function calmProfile(name: string, base: FaultProfile, r: SimRandom, changes: ProfileChanges): FaultProfile {
  const { raft, ...rest } = changes;
  const members = rest.members ?? base.members;
  return {
    ...base,
    mix: `scenario:${name}`,
    network: {
      dropProb: 0,
      dupProb: 0,
      delay: { baseMs: r.between(0, 2), jitterMs: r.between(1, 5), tailProb: 0, tailMeanMs: 0 },
      clientDelay: { baseMs: 0, jitterMs: r.between(1, 3), tailProb: 0, tailMeanMs: 0 },
      clientDropProb: 0,
    },
    disk: { fsync: { baseMs: r.between(0, 2), jitterMs: r.between(1, 4), tailProb: 0, tailMeanMs: 0 }, writebackProb: 0 },
    faultStartMs: 0,
    partitionGapMs: 0,
    crashGapMs: 0,
    membershipGapMs: 0,
    pauseGapMs: 0,
    transferGapMs: 0,
    clockDrift: 0,
    snapshotFailProb: 0,
    ...rest,
    members,
    raft: { ...base.raft, maxInflightMessages: undefined, maxMessageBytes: undefined, maxUncommittedBytes: undefined, ...raft },
  };
}

/** Raft options drawn for a scenario: lease reads only with check-quorum. */
export function scenarioRaft(r: SimRandom, o: { preVote?: boolean; checkQuorum?: boolean; leaseReads?: boolean }): Pick<RaftOptions, 'preVote' | 'checkQuorum' | 'leaseReads'> {
  const preVote = o.preVote ?? r.chance(0.7);
  const checkQuorum = o.checkQuorum ?? r.chance(0.7);
  const leaseReads = checkQuorum && (o.leaseReads ?? r.chance(0.5));
  return { preVote, checkQuorum, leaseReads };
}

/** Clock rates for members 1..n, each at 1 - drift or 1 + drift (the extremes the lease allows for). */
export function extremeClocks(r: SimRandom, n: number, drift: number): number[] {
  const rates = [1];
  for (let i = 1; i <= n + 4; i++) {
    rates.push(r.chance(0.5) ? 1 - drift : 1 + drift);
  }
  return rates;
}
