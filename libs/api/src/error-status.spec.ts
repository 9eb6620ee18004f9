/** toStatusError: every named error is answered with the trailers of its outcome. */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { OUTCOME_TRAILER, REASON_TRAILER, REASONS, awaitsLeader, outcomeOf } from '@keyval/outcome';
import { NotLeaderError, ProposalDroppedError, nodeId } from '@keyval/raft';
import { ResponseNotRetainedError, SessionExpiredError, StaleSequenceError } from '@keyval/statemachine';
import { DeadlineExceededError, MemberStoppedError, ProposalLostError, ResourceExhaustedError } from '@keyval/cluster';
import { LeaderUnreachableError, invalidArgument } from './api.errors';
import { LEADER_HINT_TRAILER, toStatusError } from './error-status';

describe('toStatusError', () => {
  it.each([
    ['not the leader, leader known', new NotLeaderError(nodeId(0xabn)), GrpcStatus.UNAVAILABLE, 'not-applied', REASONS.notLeader],
    ['not the leader, none known', new NotLeaderError(undefined), GrpcStatus.UNAVAILABLE, 'not-applied', REASONS.noLeader],
    ['the leader unreachable', new LeaderUnreachableError('ab', 'http://x:1', new Error('refused')), GrpcStatus.UNAVAILABLE, 'not-applied', REASONS.noLeader],
    ['a proposal lost to another leader', new ProposalLostError(7), GrpcStatus.UNAVAILABLE, 'not-applied', REASONS.leaderChanged],
    ['a proposal dropped', new ProposalDroppedError('a conf change is pending'), GrpcStatus.UNAVAILABLE, 'not-applied', 'PROPOSAL_DROPPED'],
    ['a deadline passed with the write in the log', new DeadlineExceededError('write'), GrpcStatus.DEADLINE_EXCEEDED, 'maybe-applied', 'DEADLINE_EXCEEDED'],
    ['a member stopped with the write pending', new MemberStoppedError('shutting down'), GrpcStatus.UNAVAILABLE, 'maybe-applied', 'MEMBER_STOPPED'],
    ['a stopped member refusing a new write', new MemberStoppedError('shutting down', 'not-applied'), GrpcStatus.UNAVAILABLE, 'not-applied', 'MEMBER_STOPPED'],
    ['a full queue', new ResourceExhaustedError('the proposal queue'), GrpcStatus.RESOURCE_EXHAUSTED, 'not-applied', 'RESOURCE_EXHAUSTED'],
    ['an expired session', SessionExpiredError.of('c', 4), GrpcStatus.FAILED_PRECONDITION, 'not-applied', REASONS.sessionExpired],
    ['a stale sequence', StaleSequenceError.of('c', 3, 4), GrpcStatus.FAILED_PRECONDITION, 'not-applied', REASONS.staleSequence],
    ['an applied write whose answer was not kept', ResponseNotRetainedError.of('c', 3), GrpcStatus.ALREADY_EXISTS, 'applied', 'RESPONSE_NOT_RETAINED'],
    ['an invalid request', invalidArgument('bad'), GrpcStatus.INVALID_ARGUMENT, 'not-applied', undefined],
    ['a bug', new Error('boom'), GrpcStatus.INTERNAL, 'maybe-applied', undefined],
  ] as const)('%s', (_what, error, code, outcome, reason) => {
    const status = toStatusError(error);
    expect(status.code).toBe(code);
    expect(status.metadata[OUTCOME_TRAILER]).toBe(outcome);
    expect(status.metadata[REASON_TRAILER]).toBe(reason);
    // What the caller reads back from the answer is what the error knew.
    const received = new GrpcStatusError(status.code, status.details, { metadata: status.metadata });
    expect(outcomeOf(received)).toEqual({ outcome, reason });
  });

  it('keeps the leader hint beside the outcome, and the trailers of a relayed answer', () => {
    const status = toStatusError(new NotLeaderError(nodeId(0xabn)));
    expect(status.metadata[LEADER_HINT_TRAILER]).toBe('ab');
    expect(toStatusError(status)).toBe(status);
  });

  it('waits for a leader only after a leadership failure that did nothing', () => {
    expect(awaitsLeader(new NotLeaderError(undefined))).toBe(true);
    expect(awaitsLeader(new ProposalLostError(3))).toBe(true);
    expect(awaitsLeader(new LeaderUnreachableError('ab', 'http://x:1', new Error('refused')))).toBe(true);
    expect(awaitsLeader(toStatusError(new NotLeaderError(nodeId(1n))))).toBe(true);
    expect(awaitsLeader(new DeadlineExceededError('write'))).toBe(false);
    expect(awaitsLeader(SessionExpiredError.of('c', 4))).toBe(false);
    expect(awaitsLeader(new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader'))).toBe(false);
  });
});
