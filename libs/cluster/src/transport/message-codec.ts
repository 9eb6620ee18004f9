/**
 * Converts between the core's messages and the wire's (`keyval.raft.v1`). The wire carries
 * terms, indexes and rounds as uint64; the core holds them as numbers, so a value above
 * 2^53 - 1 is refused rather than rounded. A malformed message is a MalformedMessageError:
 * the transport drops the whole batch and resets the stream.
 */
import { assertNever } from '@keyval/raft';
import type { Entry, EntryType, LogIndex, Message, MembershipConfig, NodeId, SnapshotMeta, Term } from '@keyval/raft';
import { raftpb } from '@keyval/proto';

export class MalformedMessageError extends Error {
  constructor(message: string) {
    super(`malformed raft message: ${message}`);
    this.name = 'MalformedMessageError';
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function num(value: bigint, field: string): number {
  if (value > MAX_SAFE) {
    throw new MalformedMessageError(`${field} ${value} exceeds 2^53 - 1`);
  }
  return Number(value);
}

const big = (n: number): bigint => BigInt(n);

function entryToWire(e: Entry): raftpb.Entry {
  return { term: big(e.term), index: big(e.index), type: e.type as number, data: e.data as Buffer };
}

function entryFromWire(e: raftpb.Entry): Entry {
  if (e.type !== 0 && e.type !== 1) {
    throw new MalformedMessageError(`unknown entry type ${e.type}`);
  }
  return { term: num(e.term, 'entry term') as Term, index: num(e.index, 'entry index') as LogIndex, type: e.type as number as EntryType, data: e.data };
}

function configFromWire(c: raftpb.MembershipConfig | undefined): MembershipConfig {
  return { voters: (c?.voters ?? []) as NodeId[], learners: (c?.learners ?? []) as NodeId[] };
}

export function snapshotMetaToWire(m: SnapshotMeta): raftpb.SnapshotMeta {
  return { index: big(m.index), term: big(m.term), config: { voters: [...m.config.voters], learners: [...m.config.learners] } };
}

export function snapshotMetaFromWire(m: raftpb.SnapshotMeta | undefined): SnapshotMeta {
  if (m === undefined) {
    throw new MalformedMessageError('snapshot without metadata');
  }
  return { index: num(m.index, 'snapshot index') as LogIndex, term: num(m.term, 'snapshot term') as Term, config: configFromWire(m.config) };
}

/** The wire form of one message (its from/to travel on the batch). */
export function messageToWire(m: Message): raftpb.RaftMessage {
  const term = big(m.term);
  switch (m.type) {
    case 'PreVote':
      return { term, body: { $case: 'preVote', value: { lastLogIndex: big(m.lastLogIndex), lastLogTerm: big(m.lastLogTerm) } } };
    case 'PreVoteResponse':
      return { term, body: { $case: 'preVoteResponse', value: { reject: m.reject } } };
    case 'Vote':
      return { term, body: { $case: 'vote', value: { lastLogIndex: big(m.lastLogIndex), lastLogTerm: big(m.lastLogTerm), transfer: m.transfer } } };
    case 'VoteResponse':
      return { term, body: { $case: 'voteResponse', value: { reject: m.reject } } };
    case 'Append':
      return {
        term,
        body: { $case: 'append', value: { prevLogIndex: big(m.prevLogIndex), prevLogTerm: big(m.prevLogTerm), entries: m.entries.map(entryToWire), commit: big(m.commit) } },
      };
    case 'AppendResponse':
      return { term, body: { $case: 'appendResponse', value: { index: big(m.index), reject: m.reject, hintIndex: big(m.hintIndex), hintTerm: big(m.hintTerm) } } };
    case 'Heartbeat':
      return { term, body: { $case: 'heartbeat', value: { commit: big(m.commit), round: big(m.round) } } };
    case 'HeartbeatResponse':
      return { term, body: { $case: 'heartbeatResponse', value: { round: big(m.round) } } };
    case 'Snapshot':
      return { term, body: { $case: 'snapshot', value: { snapshot: snapshotMetaToWire(m.snapshot) } } };
    case 'TimeoutNow':
      return { term, body: { $case: 'timeoutNow', value: {} } };
    case 'ReadIndex':
      return { term, body: { $case: 'readIndex', value: { context: m.context } } };
    case 'ReadIndexResponse':
      return { term, body: { $case: 'readIndexResponse', value: { context: m.context, index: big(m.index), reject: m.reject } } };
    default:
      return assertNever(m, 'message');
  }
}

/** The core form of a wire message sent `from` → `to`. Throws MalformedMessageError. */
export function messageFromWire(w: raftpb.RaftMessage, from: NodeId, to: NodeId): Message {
  const env = { from, to, term: num(w.term, 'term') as Term };
  const body = w.body;
  if (body === undefined) {
    throw new MalformedMessageError('message without a body');
  }
  const I = (v: bigint, f: string) => num(v, f) as LogIndex;
  const Tm = (v: bigint, f: string) => num(v, f) as Term;
  switch (body.$case) {
    case 'preVote':
      return { ...env, type: 'PreVote', lastLogIndex: I(body.value.lastLogIndex, 'lastLogIndex'), lastLogTerm: Tm(body.value.lastLogTerm, 'lastLogTerm') };
    case 'preVoteResponse':
      return { ...env, type: 'PreVoteResponse', reject: body.value.reject };
    case 'vote':
      return { ...env, type: 'Vote', lastLogIndex: I(body.value.lastLogIndex, 'lastLogIndex'), lastLogTerm: Tm(body.value.lastLogTerm, 'lastLogTerm'), transfer: body.value.transfer };
    case 'voteResponse':
      return { ...env, type: 'VoteResponse', reject: body.value.reject };
    case 'append':
      return {
        ...env,
        type: 'Append',
        prevLogIndex: I(body.value.prevLogIndex, 'prevLogIndex'),
        prevLogTerm: Tm(body.value.prevLogTerm, 'prevLogTerm'),
        entries: body.value.entries.map(entryFromWire),
        commit: I(body.value.commit, 'commit'),
      };
    case 'appendResponse':
      return {
        ...env,
        type: 'AppendResponse',
        index: I(body.value.index, 'index'),
        reject: body.value.reject,
        hintIndex: I(body.value.hintIndex, 'hintIndex'),
        hintTerm: Tm(body.value.hintTerm, 'hintTerm'),
      };
    case 'heartbeat':
      return { ...env, type: 'Heartbeat', commit: I(body.value.commit, 'commit'), round: num(body.value.round, 'round') };
    case 'heartbeatResponse':
      return { ...env, type: 'HeartbeatResponse', round: num(body.value.round, 'round') };
    case 'snapshot':
      return { ...env, type: 'Snapshot', snapshot: snapshotMetaFromWire(body.value.snapshot) };
    case 'timeoutNow':
      return { ...env, type: 'TimeoutNow' };
    case 'readIndex':
      return { ...env, type: 'ReadIndex', context: body.value.context };
    case 'readIndexResponse':
      return { ...env, type: 'ReadIndexResponse', context: body.value.context, index: I(body.value.index, 'index'), reject: body.value.reject };
    default:
      return assertNever(body, 'message body');
  }
}
