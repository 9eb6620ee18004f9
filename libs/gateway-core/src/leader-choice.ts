/**
 * Which member leads, from what the members last said about themselves (Maintenance.Status).
 * Pure: the directory calls it after every probe.
 *
 * 1. A member that answered recently and says it is the leader is a candidate; of several
 *    (an old leader cut off from the rest still believes it leads), the highest term wins
 *    (§5.1: terms order leaders; a leader of an older term can commit nothing new).
 * 2. Without such a claim, the leader that recently-answering members name at the highest
 *    term, if that member is not known to be down (its own last probe failed).
 * 3. Otherwise none (also when the only claim is older than what the others report: a
 *    deposed leader): requests wait for the next probe.
 */

/** What one probe of one member found. */
export interface Observation {
  /** The member's id (header.memberId), once any probe answered; 0n before. */
  readonly memberId: bigint;
  /** Whether the last probe answered. */
  readonly ok: boolean;
  /** When the last answer arrived (ms, the directory's clock); -Infinity before any. */
  readonly answeredAtMs: number;
  /** The leader it named (0n: none), and its term, from its last answer. */
  readonly leader: bigint;
  readonly term: bigint;
  /** The member reported problems (Status.errors non-empty), e.g. its disk failed. */
  readonly unhealthy: boolean;
}

/** The outcome of chooseLeader. */
export interface LeaderChoice {
  /** The leader's member id, 0n for none. */
  readonly leader: bigint;
  readonly term: bigint;
  /** How it was found: its own claim, others' reports, or nothing. */
  readonly basis: 'claim' | 'reported' | 'none';
}

/** No leader known. */
export const NO_LEADER: LeaderChoice = { leader: 0n, term: 0n, basis: 'none' };

/**
 * Chooses the leader from `observations` at time `nowMs`; answers older than `freshMs` do not
 * count. Deterministic: equal terms are broken by the smaller member id.
 */
export function chooseLeader(observations: Iterable<Observation>, nowMs: number, freshMs: number): LeaderChoice {
  let claim: LeaderChoice = NO_LEADER;
  let reported: LeaderChoice = NO_LEADER;
  const down = new Set<bigint>();
  for (const o of observations) {
    if (o.memberId === 0n) {
      continue;
    }
    const fresh = o.ok && nowMs - o.answeredAtMs <= freshMs;
    if (!fresh) {
      down.add(o.memberId);
      continue;
    }
    if (o.leader === 0n) {
      continue;
    }
    const candidate: LeaderChoice = { leader: o.leader, term: o.term, basis: o.leader === o.memberId ? 'claim' : 'reported' };
    if (candidate.basis === 'claim' && !o.unhealthy && better(candidate, claim)) {
      claim = candidate;
    } else if (candidate.basis === 'reported' && better(candidate, reported)) {
      reported = candidate;
    }
  }
  if (claim.leader !== 0n && (reported.leader === 0n || claim.term >= reported.term)) {
    return claim;
  }
  if (reported.leader !== 0n && !down.has(reported.leader)) {
    return reported;
  }
  // A claim from an older term than the others report is a deposed leader: no leader yet.
  return NO_LEADER;
}

function better(a: LeaderChoice, b: LeaderChoice): boolean {
  return b.leader === 0n || a.term > b.term || (a.term === b.term && a.leader < b.leader);
}
