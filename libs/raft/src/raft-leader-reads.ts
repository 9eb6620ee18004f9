/**
 * The leader's reads (§6.4): ReadIndex — record the commit index, confirm leadership with a
 * heartbeat round, then release the read — and lease reads (§6.4.1), served at once while a
 * quorum's acknowledgement of a recent round keeps the lease valid. A new leader holds reads
 * until an entry of its own term commits; reads it can no longer answer are failed.
 *
 *     leaderReadIndex ─┬─ no entry of this term committed ─► readsAwaitingTermCommit ─(maybeCommit)─┐
 *                      ├─ single voter, or a valid lease ─► releaseRead                            │
 *                      └─ else ─► pendingReads ─(quorum acks the round: releaseConfirmedReads)─► releaseRead
 *                                                                                    ◄──────────┘
 */
import { ProposalDroppedError } from './errors';
import type { Raft } from './raft';
import { Role } from './ready';
import type { LogIndex, NodeId } from './types';

function committedInCurrentTerm(r: Raft): boolean {
  return r.log.term(r.log.committed) === r.term;
}

/**
 * A read on the leader (its own, or forwarded by `from`), §6.4: record the commit index, then
 * confirm leadership with a heartbeat round (batched per Ready) — or, with a valid lease, serve
 * at once. A new leader holds reads until an entry of its term commits.
 */
export function leaderReadIndex(r: Raft, context: string, from: NodeId, lease: boolean): void {
  if (!committedInCurrentTerm(r)) {
    if (r.readsAwaitingTermCommit.length >= r.pendingReads.maxPending) {
      throw new ProposalDroppedError('too many reads waiting for the new leader to commit');
    }
    r.readsAwaitingTermCommit.push({ context, from });
    return;
  }
  const index = r.log.committed;
  if ((r.tracker.config.voters.length === 1 && r.tracker.isVoter(r.id)) || (lease && leaseValid(r))) {
    releaseRead(r, context, index, from);
    return;
  }
  r.pendingReads.add({ context, index, from, round: r.heartbeatRound + 1 });
  r.needReadRound = true;
}

/**
 * The lease (§6.4.1): from the send time of the round a quorum acknowledged, T minus the drift
 * margin. It rests on the voters of that quorum refusing votes for an election timeout after
 * they heard the round (inLease) — and a Vote with the transfer flag sets that refusal aside.
 * Such a Vote for term t+1 exists only if the leader of term t sent a TimeoutNow, and a
 * TimeoutNow can arrive at any time after it left (delayed, held back, duplicated), also after
 * the transfer was aborted. So a leader that sent one holds no lease for the rest of its term
 * (leaseForfeited), whatever became of the transfer; its lease reads take a heartbeat round
 * (ReadIndex), which a newer leader's voters cannot confirm. Conversely, a leader of term t
 * that never sent TimeoutNow can be overtaken during its lease only by a forced election at
 * some term u > t, which needs a leader of term u-1 > t elected earlier — and the first leader
 * above t needs a voter of the lease quorum, hence a TimeoutNow from term t: there is none.
 */
export function leaseValid(r: Raft): boolean {
  if (!r.cfg.leaseReads || r.leadTransferee !== undefined || r.leaseForfeited || r.role !== Role.Leader) {
    return false;
  }
  const round = r.tracker.quorumAckedRound();
  const sentAt = r.roundSentAt.get(round);
  if (round < 1 || sentAt === undefined) {
    return false;
  }
  return r.now < sentAt + r.cfg.electionTimeoutTicks - r.cfg.leaseDriftMarginTicks;
}

function releaseRead(r: Raft, context: string, index: LogIndex, from: NodeId): void {
  if (from === r.id) {
    r.readStates.push({ context, index });
  } else {
    r.send({ type: 'ReadIndexResponse', from: r.id, to: from, term: r.term, context, index, reject: false });
  }
}

/** Releases the reads whose heartbeat round a quorum acknowledged. */
export function releaseConfirmedReads(r: Raft): void {
  if (r.pendingReads.length === 0) {
    return;
  }
  for (const read of r.pendingReads.release(r.tracker.quorumAckedRound())) {
    releaseRead(r, read.context, read.index, read.from);
  }
}

/** Once an entry of the leader's term commits, the reads held until then take the ReadIndex path. */
export function releaseReadsAwaitingTermCommit(r: Raft): void {
  if (r.readsAwaitingTermCommit.length === 0 || !committedInCurrentTerm(r)) {
    return;
  }
  const waiting = r.readsAwaitingTermCommit;
  r.readsAwaitingTermCommit = [];
  for (const read of waiting) {
    leaderReadIndex(r, read.context, read.from, false);
  }
}

/** Fails reads this member can no longer answer (leadership or leader changed). */
export function failPendingReads(r: Raft): void {
  for (const read of r.drainReads()) {
    if (read.from === r.id) {
      r.failedReads.push(read.context);
    }
  }
  for (const context of r.forwardedReads) {
    r.failedReads.push(context);
  }
  r.forwardedReads.clear();
}
