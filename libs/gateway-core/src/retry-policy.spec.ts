/** classifyFailure / mayRetry: which failures allow sending a call again. */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { backoffMs, classifyFailure, mayRetry } from './retry-policy';

const err = (code: GrpcStatus, details: string): GrpcStatusError => new GrpcStatusError(code, details);

describe('classifyFailure', () => {
  it.each([
    [GrpcStatus.UNAVAILABLE, 'etcdserver: not leader', 'not-applied'],
    [GrpcStatus.UNAVAILABLE, 'etcdserver: no leader', 'not-applied'],
    [GrpcStatus.UNAVAILABLE, 'etcdserver: leader changed: proposal lost', 'not-applied'],
    [GrpcStatus.UNAVAILABLE, 'the server is shutting down', 'not-applied'],
    [GrpcStatus.UNAVAILABLE, '127.0.0.1:2379 refused the call (it may be shutting down)', 'not-applied'],
    [GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: read ECONNRESET', 'maybe-applied'],
    [GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: connect ECONNREFUSED 127.0.0.1:2379', 'maybe-applied'],
    [GrpcStatus.DEADLINE_EXCEEDED, 'etcdserver: request timed out', 'maybe-applied'],
    [GrpcStatus.CANCELLED, 'leader changed', 'maybe-applied'],
    [GrpcStatus.FAILED_PRECONDITION, 'session of client gw-1 is unknown or expired (sequence 4); start a new session at sequence 1', 'session-refused'],
    [GrpcStatus.FAILED_PRECONDITION, 'stale sequence number 3 for client gw-1: 4 was already applied', 'session-refused'],
    [GrpcStatus.FAILED_PRECONDITION, 'something else', 'final'],
    [GrpcStatus.INVALID_ARGUMENT, 'etcdserver: key is not provided', 'final'],
    [GrpcStatus.RESOURCE_EXHAUSTED, 'etcdserver: too many requests', 'final'],
  ])('%s %s → %s', (code, details, expected) => {
    expect(classifyFailure(err(code, details))).toBe(expected);
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
