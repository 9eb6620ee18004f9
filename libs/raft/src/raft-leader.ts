/**
 * The leader's side of the protocol: replication (§5.3) with per-follower flow control,
 * commitment (§5.4.2), heartbeats, snapshots (§7) and leadership transfer (§3.10). Its reads
 * (ReadIndex and leases, §6.4) are raft-leader-reads.ts.
 */
import { LeaderTransferInProgressError, LogCompactedError, NotLeaderError, ProposalDroppedError, ProposalTooLargeError, TransferRefusedError, invariant } from './errors';
import { assertNever } from './messages';
import type { AppendResponse, HeartbeatResponse, Message } from './messages';
import { ProgressState } from './progress';
import { leaderReadIndex, releaseConfirmedReads, releaseReadsAwaitingTermCommit } from './raft-leader-reads';
import type { Progress } from './progress';
import type { Raft } from './raft';
import { Role } from './ready';
import { EntryType, NO_NODE, entryBytes } from './types';
import type { Entry, LogIndex, NodeId, Term } from './types';

/** Where a proposal landed: it is committed iff the entry at `index` is applied with `term`. */
export interface ProposalTicket {
  readonly index: LogIndex;
  readonly term: Term;
}

export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'AppendResponse':
      handleAppendResponse(r, m);
      return;
    case 'HeartbeatResponse':
      handleHeartbeatResponse(r, m);
      return;
    case 'ReadIndex':
      if (r.tracker.isMember(m.from)) {
        leaderReadIndex(r, m.context, m.from, false);
      }
      return;
    case 'Append':
    case 'Heartbeat':
    case 'Snapshot':
      // Election safety (§5.2): at most one leader per term.
      invariant(false, () => `leader ${r.id} of term ${r.term} got ${m.type} from ${m.from} in the same term`);
      return;
    case 'PreVoteResponse':
    case 'VoteResponse':
    case 'TimeoutNow':
    case 'ReadIndexResponse':
    case 'PreVote':
    case 'Vote':
      return;
    default:
      assertNever(m, 'message');
  }
}

/** Appends client proposals to the leader's log. Throws the named errors of errors.ts. */
export function propose(r: Raft, payloads: readonly Uint8Array[], type: EntryType): ProposalTicket[] {
  if (r.role !== Role.Leader) {
    throw new NotLeaderError(r.leader === NO_NODE ? undefined : r.leader);
  }
  if (r.leadTransferee !== undefined) {
    throw new LeaderTransferInProgressError(r.leadTransferee);
  }
  if (!r.tracker.isMember(r.id)) {
    throw new ProposalDroppedError('this leader is being removed from the cluster');
  }
  let total = 0;
  for (const data of payloads) {
    if (data.byteLength > r.cfg.maxEntryBytes) {
      throw new ProposalTooLargeError(data.byteLength, r.cfg.maxEntryBytes);
    }
    total += data.byteLength + 24;
  }
  if (r.uncommittedBytes > 0 && r.uncommittedBytes + total > r.cfg.maxUncommittedBytes) {
    throw new ProposalDroppedError(`too many uncommitted bytes (${r.uncommittedBytes} of ${r.cfg.maxUncommittedBytes})`);
  }
  let index = r.log.lastIndex();
  const entries: Entry[] = payloads.map((data) => {
    index = (index + 1) as LogIndex;
    return { term: r.term, index, type, data };
  });
  r.log.append(entries);
  if (r.configs.onAppend(entries)) {
    r.tracker.setConfig(r.configs.current(), r.log.lastIndex());
    onLeaderConfigChanged(r);
  }
  r.uncommittedBytes += total;
  r.needAppendBroadcast = true;
  return entries.map((e) => ({ index: e.index, term: e.term }));
}

/** After the leader's configuration changed: abort a transfer to a removed member. */
function onLeaderConfigChanged(r: Raft): void {
  if (r.leadTransferee !== undefined && !r.tracker.isVoter(r.leadTransferee)) {
    r.leadTransferee = undefined;
  }
  // A single-voter configuration may now commit on the leader's vote alone.
  maybeCommit(r);
}

/**
 * Sends the follower what it lacks (or a snapshot when that is compacted). In Probe state at
 * most one message is outstanding; in Replicate messages pipeline within the inflight window.
 * Returns whether a message was sent.
 */
export function maybeSendAppend(r: Raft, to: NodeId, sendIfEmpty: boolean): boolean {
  const pr = r.tracker.progress.get(to);
  if (pr === undefined || to === r.id || pr.isPaused()) {
    return false;
  }
  const prevLogIndex = (pr.next - 1) as LogIndex;
  const prevLogTerm = r.log.term(prevLogIndex);
  let entries: Entry[];
  try {
    entries = prevLogTerm === undefined ? [] : r.log.slice(pr.next, (r.log.lastIndex() + 1) as LogIndex, r.cfg.maxMessageBytes);
  } catch (error) {
    if (!(error instanceof LogCompactedError)) {
      throw error;
    }
    return sendSnapshot(r, to, pr);
  }
  if (prevLogTerm === undefined) {
    return sendSnapshot(r, to, pr);
  }
  if (entries.length === 0 && !sendIfEmpty && r.log.committed <= pr.sentCommit) {
    return false;
  }
  let bytes = 0;
  for (const entry of entries) {
    bytes += entryBytes(entry);
  }
  const commit = r.log.committed;
  r.send({ type: 'Append', from: r.id, to, term: r.term, prevLogIndex, prevLogTerm, entries, commit });
  pr.sentCommit = commit;
  const last = entries[entries.length - 1];
  pr.sentEntries(last === undefined ? prevLogIndex : last.index, entries.length, bytes);
  return true;
}

function sendSnapshot(r: Raft, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive || r.log.unstable.snapshot !== undefined) {
    // Do not start a transfer to a member that may be down; retry once it answers.
    return false;
  }
  const snapshot = r.log.storage.snapshotMeta();
  invariant(snapshot.index > 0, () => `follower ${to} needs compacted entries but there is no snapshot`);
  pr.becomeSnapshot(snapshot.index);
  r.send({ type: 'Snapshot', from: r.id, to, term: r.term, snapshot });
  return true;
}

/** Sends every follower what it lacks; Replicate followers get as many messages as the window allows. */
export function broadcastAppend(r: Raft): void {
  for (const [id, pr] of r.tracker.progress) {
    if (id === r.id) {
      continue;
    }
    while (maybeSendAppend(r, id, false) && pr.state === ProgressState.Replicate && pr.next <= r.log.lastIndex()) {
      // keep filling the pipeline
    }
  }
}

/** Starts a heartbeat round: followers echo `round`, confirming leadership for reads and leases. */
export function broadcastHeartbeat(r: Raft): void {
  r.heartbeatRound++;
  const round = r.heartbeatRound;
  r.roundSentAt.set(round, r.now);
  pruneRounds(r);
  const self = r.tracker.progress.get(r.id);
  if (self !== undefined) {
    self.ackedRound = round;
  }
  for (const [id, pr] of r.tracker.progress) {
    if (id === r.id) {
      continue;
    }
    // Only what the follower is known to hold may be committed through a heartbeat.
    const commit = Math.min(pr.match, r.log.committed) as LogIndex;
    r.send({ type: 'Heartbeat', from: r.id, to: id, term: r.term, commit, round });
  }
  r.needReadRound = false;
  // A lone voter confirms its own rounds.
  releaseConfirmedReads(r);
}

function pruneRounds(r: Raft): void {
  const horizon = r.now - 2 * r.cfg.electionTimeoutTicks;
  for (const [round, at] of r.roundSentAt) {
    if (at >= horizon) {
      break;
    }
    r.roundSentAt.delete(round);
  }
}

function handleHeartbeatResponse(r: Raft, m: HeartbeatResponse): void {
  const pr = r.tracker.progress.get(m.from);
  if (pr === undefined) {
    return;
  }
  pr.recentActive = true;
  pr.lastActiveTick = r.now;
  pr.probeSent = false;
  if (m.round > pr.ackedRound && m.round <= r.heartbeatRound) {
    pr.ackedRound = m.round;
  }
  if (pr.match < r.log.lastIndex()) {
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) {
      // The window may be full of Appends that were lost (or dropped by a restarted
      // follower): nothing but their answers would free it. Probe at `next` without using the
      // window; a follower that lacks the entries before it rejects, and the leader backs off.
      sendWindowProbe(r, m.from, pr);
    } else {
      maybeSendAppend(r, m.from, true);
    }
  }
  releaseConfirmedReads(r);
}

/** An empty Append at the follower's `next`, outside the in-flight window. */
function sendWindowProbe(r: Raft, to: NodeId, pr: Progress): void {
  const prevLogIndex = (pr.next - 1) as LogIndex;
  const prevLogTerm = r.log.term(prevLogIndex);
  if (prevLogTerm === undefined) {
    // The entries the follower lacks are compacted: it needs a snapshot. Leave the stuck
    // window and let the probe path send one (sim seeds 13687, 38285).
    pr.becomeProbe();
    maybeSendAppend(r, to, true);
    return;
  }
  const commit = Math.min(r.log.committed, pr.match) as LogIndex;
  r.send({ type: 'Append', from: r.id, to, term: r.term, prevLogIndex, prevLogTerm, entries: [], commit });
}

function handleAppendResponse(r: Raft, m: AppendResponse): void {
  const pr = r.tracker.progress.get(m.from);
  if (pr === undefined) {
    return;
  }
  pr.recentActive = true;
  pr.lastActiveTick = r.now;
  if (m.reject) {
    // Skip a whole term per round trip using the follower's hint (§5.3, dissertation §5.3.2).
    const hint = m.hintTerm > 0 ? r.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === ProgressState.Replicate) {
        pr.becomeProbe();
      }
      maybeSendAppend(r, m.from, true);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe))) {
    return;
  }
  if (pr.state === ProgressState.Probe) {
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= r.log.firstIndex()) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === ProgressState.Replicate) {
    pr.inflights.freeLE(m.index);
  }
  if (!maybeCommit(r) && wasPaused) {
    maybeSendAppend(r, m.from, false);
  }
  if (r.role !== Role.Leader) {
    return;
  }
  while (maybeSendAppend(r, m.from, false) && pr.state === ProgressState.Replicate && pr.next <= r.log.lastIndex()) {
    // keep filling the pipeline
  }
  if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
    sendTimeoutNow(r, m.from);
  }
}

/**
 * Advances commit to what a quorum of voters holds, if that entry is from this term (§5.4.2).
 * Returns whether commit advanced. A leader that is no longer a member steps down once the
 * configuration removing it commits (§4.2.2).
 */
export function maybeCommit(r: Raft): boolean {
  const index = r.tracker.committedIndex();
  if (index < 0 || !r.log.maybeCommit(index as LogIndex, r.term)) {
    return false;
  }
  r.needAppendBroadcast = true;
  releaseReadsAwaitingTermCommit(r);
  if (!r.tracker.isVoter(r.id) && r.configs.currentIndex() <= r.log.committed) {
    broadcastAppend(r);
    r.becomeFollower(r.term, NO_NODE);
  }
  return true;
}

/** Leadership transfer (§3.10): catch the target up, then tell it to campaign at once. */
export function transferLeadership(r: Raft, target: NodeId): void {
  if (r.role !== Role.Leader) {
    throw new NotLeaderError(r.leader === NO_NODE ? undefined : r.leader);
  }
  if (target === r.id) {
    return;
  }
  if (!r.tracker.isVoter(target)) {
    throw new TransferRefusedError(`${target} is not a voter`);
  }
  if (r.leadTransferee === target) {
    return;
  }
  r.leadTransferee = target;
  r.timeoutNowSent = false;
  r.electionElapsed = 0;
  const pr = r.tracker.progress.get(target) as Progress;
  if (pr.match === r.log.lastIndex()) {
    sendTimeoutNow(r, target);
  } else {
    maybeSendAppend(r, target, true);
  }
}

/**
 * Tells the transferee to campaign. The first time, the transfer's clock restarts: proposals
 * stay refused for a whole election timeout after TimeoutNow left, so the target campaigns
 * with a log as long as ours and can win (aborting sooner let new entries make its log
 * shorter than the voters'; chaos --faults transfer, seed 12).
 */
function sendTimeoutNow(r: Raft, to: NodeId): void {
  // A TimeoutNow may be delivered however late: no lease for the rest of this term (leaseValid).
  r.leaseForfeited = true;
  if (!r.timeoutNowSent) {
    r.timeoutNowSent = true;
    r.electionElapsed = 0;
  }
  r.send({ type: 'TimeoutNow', from: r.id, to, term: r.term });
}

/** Work deferred to the next Ready so it batches: appends for new proposals and commits, read rounds. */
export function flushLeader(r: Raft): void {
  if (r.role !== Role.Leader) {
    return;
  }
  if (r.needAppendBroadcast) {
    r.needAppendBroadcast = false;
    broadcastAppend(r);
  }
  if (r.needReadRound) {
    broadcastHeartbeat(r);
  }
}

/** The leader's own entries became durable up to `index`: count its vote toward commit. */
export function leaderPersisted(r: Raft, index: LogIndex): void {
  if (r.role !== Role.Leader) {
    return;
  }
  const self = r.tracker.progress.get(r.id);
  if (self !== undefined && self.maybeUpdate(index)) {
    maybeCommit(r);
  }
}
