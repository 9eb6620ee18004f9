/**
 * Majority-quorum arithmetic over voters (§5.2, §5.3). Pure functions; learners never appear
 * here. An empty voter set has no quorum: nothing commits and no one wins.
 */
export enum VoteResult {
  Pending = 'pending',
  Won = 'won',
  Lost = 'lost',
}

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The largest value v such that a quorum of voters have a value >= v: the commit index given
 * each voter's match index, or the acknowledged round given each voter's round. -1 when there
 * are no voters.
 */
export function quorumMinimum(values: readonly number[]): number {
  if (values.length === 0) {
    return -1;
  }
  const sorted = values.slice().sort((a, b) => b - a);
  return sorted[quorumSize(values.length) - 1] as number;
}

/** Tallies votes: won once a quorum granted, lost once a quorum can no longer be reached. */
export function voteResult(voterCount: number, granted: number, rejected: number): VoteResult {
  if (voterCount === 0) {
    return VoteResult.Lost;
  }
  const q = quorumSize(voterCount);
  if (granted >= q) {
    return VoteResult.Won;
  }
  if (voterCount - rejected < q) {
    return VoteResult.Lost;
  }
  return VoteResult.Pending;
}
