import { etcd } from '@keyval/proto';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { NotLeaderError, nodeId } from '@keyval/raft';
import { KeyNotFoundError } from '@keyval/statemachine';
import { DeadlineExceededError } from '@keyval/cluster';
import { CompactedError, FutureRevisionError, SortOrder, SortTarget } from '@keyval/statemachine';
import { DEFAULT_API_LIMITS, checkRequestSize, deleteFromWire, putFromWire, rangeFromWire, txnFromWire, txnWrites } from './etcd-request';
import { DETAIL_TRAILER, LEADER_HINT_TRAILER, toStatusError } from './error-status';

const b = (s: string) => Buffer.from(s);
const range = (p: Partial<etcd.RangeRequest>) => etcd.RangeRequest.fromPartial(p);
const expectStatus = (fn: () => unknown, code: GrpcStatus, message: RegExp) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GrpcStatusError);
    expect((error as GrpcStatusError).code).toBe(code);
    expect((error as GrpcStatusError).details).toMatch(message);
    return;
  }
  throw new Error('expected a status error');
};

describe('etcd request validation', () => {
  it('refuses empty keys with etcd’s own message', () => {
    expectStatus(() => rangeFromWire(range({})), GrpcStatus.INVALID_ARGUMENT, /^etcdserver: key is not provided$/);
    expectStatus(() => putFromWire(etcd.PutRequest.fromPartial({ value: b('v') })), GrpcStatus.INVALID_ARGUMENT, /key is not provided/);
    expectStatus(() => deleteFromWire(etcd.DeleteRangeRequest.fromPartial({})), GrpcStatus.INVALID_ARGUMENT, /key is not provided/);
  });

  it('passes inverted ranges on (etcd answers them empty)', () => {
    expect(rangeFromWire(range({ key: b('b'), rangeEnd: b('a') }))).toEqual({ key: b('b'), rangeEnd: b('a') });
    expect(rangeFromWire(range({ key: b('a'), rangeEnd: Buffer.from([0]) })).rangeEnd).toEqual(Buffer.from([0]));
  });

  it('maps revision, sort and filters; negative values mean unset, as in etcd', () => {
    const pb = range({
      key: b('a'),
      rangeEnd: b('z'),
      limit: 3n,
      revision: 7n,
      sortOrder: etcd.RangeRequest_SortOrder.DESCEND,
      sortTarget: etcd.RangeRequest_SortTarget.MOD,
      minModRevision: 2n,
      maxCreateRevision: 9n,
      keysOnly: true,
    });
    expect(rangeFromWire(pb)).toEqual({ key: b('a'), rangeEnd: b('z'), limit: 3, revision: 7, minModRevision: 2, maxCreateRevision: 9, keysOnly: true, sortOrder: SortOrder.Descend, sortTarget: SortTarget.Mod });
    expect(rangeFromWire(range({ key: b('a'), limit: -1n, revision: -5n, maxModRevision: -2n }))).toEqual({ key: b('a') });
    expectStatus(() => rangeFromWire(range({ key: b('a'), revision: 2n ** 60n })), GrpcStatus.OUT_OF_RANGE, /^etcdserver: mvcc: required revision is a future revision$/);
    expectStatus(() => rangeFromWire(range({ key: b('a'), sortOrder: 7 as etcd.RangeRequest_SortOrder })), GrpcStatus.INVALID_ARGUMENT, /unknown sort_order 7/);
  });

  it('maps a put’s lease; refuses a lease with ignore_lease and a negative lease as etcd', () => {
    expect(putFromWire(etcd.PutRequest.fromPartial({ key: b('k'), lease: 5n }))).toMatchObject({ lease: 5n });
    expect(putFromWire(etcd.PutRequest.fromPartial({ key: b('k'), ignoreLease: true }))).toMatchObject({ ignoreLease: true });
    expectStatus(() => putFromWire(etcd.PutRequest.fromPartial({ key: b('k'), lease: 5n, ignoreLease: true })), GrpcStatus.INVALID_ARGUMENT, /^etcdserver: lease is provided$/);
    expectStatus(() => putFromWire(etcd.PutRequest.fromPartial({ key: b('k'), lease: -5n })), GrpcStatus.NOT_FOUND, /^etcdserver: requested lease not found$/);
  });

  it('refuses oversized requests and too many txn operations (a nested txn gets what its parent left)', () => {
    expectStatus(() => checkRequestSize(2_000_000, DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /request is too large \(2000000 bytes; the limit is 1572864\)/);
    const puts = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => etcd.RequestOp.fromPartial({ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: b(`${prefix}${i}`) }) } }));
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: puts(129, 'k') }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /too many operations/);
    const nested = (n: number) => etcd.RequestOp.fromPartial({ request: { $case: 'requestTxn', value: etcd.TxnRequest.fromPartial({ success: puts(n, 'n') }) } });
    expect(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [...puts(99, 'k'), nested(28)] }), DEFAULT_API_LIMITS)).not.toThrow();
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [...puts(99, 'k'), nested(29)] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /too many operations/);
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [etcd.RequestOp.fromPartial({})] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /^etcdserver: key not found$/);
  });

  it('refuses a key put twice or put and deleted in one txn, nested txns included (etcd checkIntervals)', () => {
    const put = (k: string) => etcd.RequestOp.fromPartial({ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: b(k) }) } });
    const txn = (success: etcd.RequestOp[], failure: etcd.RequestOp[] = []) => etcd.RequestOp.fromPartial({ request: { $case: 'requestTxn', value: etcd.TxnRequest.fromPartial({ success, failure }) } });
    const del = (k: string, e: string) => etcd.RequestOp.fromPartial({ request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial({ key: b(k), rangeEnd: b(e) }) } });
    const check = (success: etcd.RequestOp[]) => () => txnFromWire(etcd.TxnRequest.fromPartial({ success }), DEFAULT_API_LIMITS);
    expectStatus(check([put('a'), txn([put('a')])]), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expectStatus(check([del('a', 'c'), txn([], [put('b')])]), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expectStatus(check([txn([del('a', 'c')]), put('b')]), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expectStatus(check([del('a', '\0'), put('zz')]), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expect(check([txn([put('a')], [put('a')])])).not.toThrow();
    expect(check([del('a', 'c'), del('b', 'd'), put('d')])).not.toThrow();
  });

  it('refuses duplicate keys in one txn branch, and unknown compare targets', () => {
    const put = (k: string) => etcd.RequestOp.fromPartial({ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: b(k) }) } });
    const del = (k: string, e: string) => etcd.RequestOp.fromPartial({ request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial({ key: b(k), rangeEnd: b(e) }) } });
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [put('a'), put('a')] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ failure: [put('b'), del('a', 'c')] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expect(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [put('a')], failure: [put('a')] }), DEFAULT_API_LIMITS)).not.toThrow();
    const cmp = etcd.Compare.fromPartial({ key: b('k'), target: 9 as etcd.Compare_CompareTarget });
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ compare: [cmp] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /unknown compare target 9/);
    const lease = etcd.Compare.fromPartial({ key: b('k'), target: etcd.Compare_CompareTarget.LEASE, targetUnion: { $case: 'lease', value: 9n } });
    expect(txnFromWire(etcd.TxnRequest.fromPartial({ compare: [lease] }), DEFAULT_API_LIMITS).request.compare[0]).toMatchObject({ lease: 9n });
  });

  it('tells read-only txns from writing ones', () => {
    const r = etcd.RequestOp.fromPartial({ request: { $case: 'requestRange', value: range({ key: b('k') }) } });
    expect(txnWrites(txnFromWire(etcd.TxnRequest.fromPartial({ success: [r] }), DEFAULT_API_LIMITS).request)).toBe(false);
  });
});

describe('error → status mapping', () => {
  it('maps not-leader with a leader hint, and no-leader', () => {
    const e = toStatusError(new NotLeaderError(nodeId(0xabc)));
    expect(e.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(e.details).toBe('etcdserver: not leader');
    expect(e.metadata[LEADER_HINT_TRAILER]).toBe('abc');
    expect(toStatusError(new NotLeaderError(undefined)).details).toBe('etcdserver: no leader');
  });

  it('maps deadlines, command rejections and unknown errors', () => {
    expect(toStatusError(new DeadlineExceededError('write')).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(toStatusError(KeyNotFoundError.forKey(b('k'))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(toStatusError(new Error('boom')).code).toBe(GrpcStatus.INTERNAL);
  });

  it('answers compacted and future revisions with etcd’s exact text, our reason in a trailer', () => {
    const compacted = toStatusError(CompactedError.of(3, 7));
    expect([compacted.code, compacted.details]).toEqual([GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted']);
    expect(compacted.metadata[DETAIL_TRAILER]).toMatch(/revision 3 has been compacted/);
    const future = toStatusError(FutureRevisionError.of(9, 7));
    expect([future.code, future.details]).toEqual([GrpcStatus.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision']);
  });
});
