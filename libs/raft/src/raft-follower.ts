/**
 * Followers and candidates: accepting the leader's entries (§5.3), heartbeats, snapshots (§7),
 * counting votes (§5.2, §9.6) and forwarding reads to the leader (§6.4).
 */
import { NotLeaderError, ProposalDroppedError } from './errors';
import { assertNever } from './messages';
import type { AppendRequest, HeartbeatRequest, Message, SnapshotRequest } from './messages';
import { CampaignKind } from './raft';
import type { Raft } from './raft';
import { Role } from './ready';
import { NO_NODE } from './types';
import type { LogIndex, Term } from './types';

/** Forwarded reads a follower tracks at most (a limit on everything). */
const MAX_FORWARDED_READS = 100_000;

export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'Append':
      hearFromLeader(r, m.from);
      handleAppend(r, m);
      return;
    case 'Heartbeat':
      hearFromLeader(r, m.from);
      handleHeartbeat(r, m);
      return;
    case 'Snapshot':
      hearFromLeader(r, m.from);
      handleSnapshot(r, m);
      return;
    case 'TimeoutNow':
      // §3.10: the leader asks us to take over; campaign at once, skipping pre-vote. Only our
      // own leader of this term may ask (the term check is in step): a forced election sets the
      // voters' check-quorum lease aside, so nobody else's request may start one.
      if (m.from === r.leader) {
        r.campaign(CampaignKind.Transfer);
      }
      return;
    case 'ReadIndexResponse':
      if (r.forwardedReads.delete(m.context)) {
        if (m.reject) {
          r.failedReads.push(m.context);
        } else {
          r.readStates.push({ context: m.context, index: m.index });
        }
      }
      return;
    case 'ReadIndex':
    case 'AppendResponse':
    case 'HeartbeatResponse':
    case 'PreVoteResponse':
    case 'VoteResponse':
    case 'PreVote':
    case 'Vote':
      return;
    default:
      assertNever(m, 'message');
  }
}

export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case 'PreVoteResponse':
      if (r.role === Role.PreCandidate) {
        r.tracker.recordVote(m.from, !m.reject);
        r.tallyAndMaybeWin();
      }
      return;
    case 'VoteResponse':
      if (r.role === Role.Candidate) {
        r.tracker.recordVote(m.from, !m.reject);
        r.tallyAndMaybeWin();
      }
      return;
    case 'Append':
    case 'Heartbeat':
    case 'Snapshot':
      // A leader exists in our term: stand down and follow it.
      r.becomeFollower(m.term, m.from);
      stepFollower(r, m);
      return;
    case 'TimeoutNow':
    case 'ReadIndex':
    case 'ReadIndexResponse':
    case 'AppendResponse':
    case 'HeartbeatResponse':
    case 'PreVote':
    case 'Vote':
      return;
    default:
      assertNever(m, 'message');
  }
}

function hearFromLeader(r: Raft, leader: Raft['leader']): void {
  r.electionElapsed = 0;
  r.leader = leader;
}

function handleAppend(r: Raft, m: AppendRequest): void {
  const respond = (index: LogIndex, reject: boolean, hintIndex: LogIndex, hintTerm: Term): void =>
    r.send({ type: 'AppendResponse', from: r.id, to: m.from, term: r.term, index, reject, hintIndex, hintTerm });
  if (m.prevLogIndex < r.log.committed) {
    respond(r.log.committed, false, 0 as LogIndex, 0 as Term);
    return;
  }
  const result = r.log.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.commit, m.entries);
  if (result !== undefined) {
    if (r.configs.onAppend(result.appended)) {
      r.tracker.setConfig(r.configs.current(), r.log.lastIndex());
    }
    respond(result.lastNew, false, 0 as LogIndex, 0 as Term);
    return;
  }
  // Consistency check failed: hint the highest index that may match so the leader can skip a
  // whole term per round trip instead of one entry.
  const hintIndex = r.log.findConflictByTerm(Math.min(m.prevLogIndex, r.log.lastIndex()) as LogIndex, m.prevLogTerm);
  const hintTerm = r.log.term(hintIndex) ?? (0 as Term);
  respond(m.prevLogIndex, true, hintIndex, hintTerm);
}

function handleHeartbeat(r: Raft, m: HeartbeatRequest): void {
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()) as LogIndex);
  r.send({ type: 'HeartbeatResponse', from: r.id, to: m.from, term: r.term, round: m.round });
}

function handleSnapshot(r: Raft, m: SnapshotRequest): void {
  const snapshot = m.snapshot;
  const respond = (index: LogIndex): void =>
    r.send({ type: 'AppendResponse', from: r.id, to: m.from, term: r.term, index, reject: false, hintIndex: 0 as LogIndex, hintTerm: 0 as Term });
  if (snapshot.index <= r.log.committed) {
    respond(r.log.committed);
    return;
  }
  if (r.log.matchTerm(snapshot.index, snapshot.term)) {
    // §7: the log already holds the snapshot's last entry; keep the suffix and just commit.
    r.log.commitTo(snapshot.index);
    respond(r.log.committed);
    return;
  }
  r.log.restore(snapshot);
  r.configs.restore(snapshot);
  r.tracker.setConfig(snapshot.config, r.log.lastIndex());
  respond(r.log.lastIndex());
}

/** A read on a follower: ask the leader for the read index (§6.4). */
export function followerReadIndex(r: Raft, context: string): void {
  if (r.leader === NO_NODE) {
    throw new NotLeaderError(undefined);
  }
  if (r.forwardedReads.size >= MAX_FORWARDED_READS) {
    throw new ProposalDroppedError(`too many reads waiting for the leader (${MAX_FORWARDED_READS})`);
  }
  r.forwardedReads.add(context);
  r.send({ type: 'ReadIndex', from: r.id, to: r.leader, term: r.term, context });
}
