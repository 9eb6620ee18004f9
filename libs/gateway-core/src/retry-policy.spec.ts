/** classifyFailure / mayRetry: which failures allow sending a call again. */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { REASONS, outcomeTrailers } from '@keyval/outcome';
import type { Outcome } from '@keyval/outcome';
import { backoffMs, classifyFailure, mayRetry } from './retry-policy';

const err = (code: GrpcStatus, details: string, options: { outcome?: Outcome; trailer?: Outcome; reason?: string } = {}): GrpcStatusError =>
  new GrpcStatusError(code, details, {
    outcome: options.outcome,
    metadata: options.trailer === undefined ? {} : outcomeTrailers({ outcome: options.trailer, reason: options.reason }),
  });

describe('classifyFailure', () => {
  it.each([
    ['a not-leader answer', err(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader', { trailer: 'not-applied', reason: REASONS.notLeader }), 'not-applied'],
    ['a no-leader answer', err(GrpcStatus.UNAVAILABLE, 'etcdserver: no leader', { trailer: 'not-applied', reason: REASONS.noLeader }), 'not-applied'],
    ['a lost proposal', err(GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed: proposal lost', { trailer: 'not-applied', reason: 'PROPOSAL_LOST' }), 'not-applied'],
    ['a server refusing calls as it shuts down', err(GrpcStatus.UNAVAILABLE, 'the server is shutting down', { trailer: 'not-applied', reason: REASONS.serverStopping }), 'not-applied'],
    ['a stream refused unprocessed (this side knows)', err(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379 refused the call (it may be shutting down)', { outcome: 'never-sent' }), 'not-applied'],
    ['a connection never established (this side knows)', err(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: connect ECONNREFUSED 127.0.0.1:2379', { outcome: 'never-sent' }), 'not-applied'],
    ['a connection lost mid-call', err(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: read ECONNRESET'), 'maybe-applied'],
    ['a member stopped with the write pending', err(GrpcStatus.UNAVAILABLE, 'etcdserver: server stopped', { trailer: 'maybe-applied', reason: 'MEMBER_STOPPED' }), 'maybe-applied'],
    ['etcd text without the trailer: text decides nothing', err(GrpcStatus.UNAVAILABLE, 'etcdserver: not leader'), 'maybe-applied'],
    ['a member timing out', err(GrpcStatus.DEADLINE_EXCEEDED, 'etcdserver: request timed out', { trailer: 'maybe-applied' }), 'maybe-applied'],
    ['a cancelled attempt', err(GrpcStatus.CANCELLED, 'leader changed'), 'maybe-applied'],
    ['an expired session', err(GrpcStatus.FAILED_PRECONDITION, 'session of client gw-1 is unknown', { trailer: 'not-applied', reason: REASONS.sessionExpired }), 'session-refused'],
    ['a stale sequence', err(GrpcStatus.FAILED_PRECONDITION, 'stale sequence number 3', { trailer: 'not-applied', reason: REASONS.staleSequence }), 'session-refused'],
    ['session words in the text only', err(GrpcStatus.FAILED_PRECONDITION, 'stale sequence number 3', { trailer: 'not-applied' }), 'final'],
    ['another refusal', err(GrpcStatus.FAILED_PRECONDITION, 'something else', { trailer: 'not-applied', reason: 'COMMAND_LIMIT' }), 'final'],
    ['an invalid request', err(GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key is not provided'), 'final'],
    ['too many requests', err(GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: too many requests', { trailer: 'not-applied' }), 'final'],
  ] as const)('%s → %s', (_what, error, expected) => {
    expect(classifyFailure(error)).toBe(expected);
  });
});

describe('mayRetry', () => {
  it('retries anything not applied, and unknown outcomes except for once-only calls', () => {
    for (const kind of ['write', 'read', 'idempotent', 'once'] as const) {
      expect(mayRetry(kind, 'not-applied')).toBe(true);
      expect(mayRetry(kind, 'final')).toBe(false);
      expect(mayRetry(kind, 'session-refused')).toBe(false);
      expect(mayRetry(kind, 'maybe-applied')).toBe(kind !== 'once');
    }
  });

  it('backs off exponentially up to a cap', () => {
    expect([1, 2, 3, 4, 7, 8, 100].map((a) => backoffMs(a))).toEqual([2, 4, 8, 16, 100, 100, 100]);
  });
});
