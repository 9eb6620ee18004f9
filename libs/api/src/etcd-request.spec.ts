import { etcd } from '@keyval/proto';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { NotLeaderError, nodeId } from '@keyval/raft';
import { KeyNotFoundError } from '@keyval/statemachine';
import { DeadlineExceededError } from '@keyval/cluster';
import { DEFAULT_API_LIMITS, checkRequestSize, deleteFromWire, planRange, putFromWire, txnFromWire, txnWrites } from './etcd-request';
import { finishRange } from './etcd-response';
import { LEADER_HINT_TRAILER, toStatusError } from './error-status';

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
    expectStatus(() => planRange(range({})), GrpcStatus.INVALID_ARGUMENT, /^etcdserver: key is not provided$/);
    expectStatus(() => putFromWire(etcd.PutRequest.fromPartial({ value: b('v') })), GrpcStatus.INVALID_ARGUMENT, /key is not provided/);
    expectStatus(() => deleteFromWire(etcd.DeleteRangeRequest.fromPartial({})), GrpcStatus.INVALID_ARGUMENT, /key is not provided/);
  });

  it('refuses inverted ranges, naming them', () => {
    expectStatus(() => planRange(range({ key: b('b'), rangeEnd: b('a') })), GrpcStatus.INVALID_ARGUMENT, /inverted range/);
    expect(planRange(range({ key: b('a'), rangeEnd: Buffer.from([0]) })).request.rangeEnd).toEqual(Buffer.from([0]));
  });

  it('refuses leases and past revisions as unimplemented, future revisions as out of range', () => {
    expectStatus(() => putFromWire(etcd.PutRequest.fromPartial({ key: b('k'), lease: 5n })), GrpcStatus.UNIMPLEMENTED, /leases are not supported/);
    const plan = planRange(range({ key: b('k'), revision: 3n }));
    const at = (revision: number) => ({ header: { revision }, kvs: [], more: false, count: 0 });
    expectStatus(() => finishRange(plan, at(5)), GrpcStatus.UNIMPLEMENTED, /past revision \(3; the store is at 5\)/);
    expectStatus(() => finishRange(plan, at(2)), GrpcStatus.OUT_OF_RANGE, /future revision/);
    expect(finishRange(plan, at(3)).header.revision).toBe(3);
  });

  it('refuses oversized requests and too many txn operations', () => {
    expectStatus(() => checkRequestSize(2_000_000, DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /request is too large \(2000000 bytes; the limit is 1572864\)/);
    const ops = Array.from({ length: 129 }, (_, i) => etcd.RequestOp.fromPartial({ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: b(`k${i}`) }) } }));
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: ops }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /too many operations/);
  });

  it('refuses duplicate keys in one txn branch, and unknown compare targets', () => {
    const put = (k: string) => etcd.RequestOp.fromPartial({ request: { $case: 'requestPut', value: etcd.PutRequest.fromPartial({ key: b(k) }) } });
    const del = (k: string, e: string) => etcd.RequestOp.fromPartial({ request: { $case: 'requestDeleteRange', value: etcd.DeleteRangeRequest.fromPartial({ key: b(k), rangeEnd: b(e) }) } });
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [put('a'), put('a')] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ failure: [put('b'), del('a', 'c')] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /duplicate key/);
    expect(() => txnFromWire(etcd.TxnRequest.fromPartial({ success: [put('a')], failure: [put('a')] }), DEFAULT_API_LIMITS)).not.toThrow();
    const cmp = etcd.Compare.fromPartial({ key: b('k'), target: 9 as etcd.Compare_CompareTarget });
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ compare: [cmp] }), DEFAULT_API_LIMITS), GrpcStatus.INVALID_ARGUMENT, /unknown compare target 9/);
    const lease = etcd.Compare.fromPartial({ key: b('k'), target: etcd.Compare_CompareTarget.LEASE });
    expectStatus(() => txnFromWire(etcd.TxnRequest.fromPartial({ compare: [lease] }), DEFAULT_API_LIMITS), GrpcStatus.UNIMPLEMENTED, /lease/);
  });

  it('tells read-only txns from writing ones', () => {
    const r = etcd.RequestOp.fromPartial({ request: { $case: 'requestRange', value: range({ key: b('k') }) } });
    expect(txnWrites(txnFromWire(etcd.TxnRequest.fromPartial({ success: [r] }), DEFAULT_API_LIMITS).request)).toBe(false);
  });
});

describe('range post-processing', () => {
  const kv = (k: string, mod: number, v: string) => ({ key: b(k), createRevision: 2, modRevision: mod, version: 1, value: b(v) });
  const r = { header: { revision: 9 }, kvs: [kv('a', 5, 'z'), kv('b', 3, 'y'), kv('c', 7, 'x')], more: false, count: 3 };

  it('sorts descending by mod revision and applies the limit after sorting', () => {
    const plan = planRange(range({ key: b('a'), rangeEnd: b('z'), limit: 2n, sortOrder: etcd.RangeRequest_SortOrder.DESCEND, sortTarget: etcd.RangeRequest_SortTarget.MOD }));
    expect(plan.request.limit).toBe(0);
    const out = finishRange(plan, r);
    expect(out.kvs.map((k) => Buffer.from(k.key).toString())).toEqual(['c', 'a']);
    expect(out.more).toBe(true);
    expect(out.count).toBe(3);
  });

  it('filters by mod revision', () => {
    const plan = planRange(range({ key: b('a'), rangeEnd: b('z'), minModRevision: 4n }));
    expect(finishRange(plan, r).kvs.map((k) => Buffer.from(k.key).toString())).toEqual(['a', 'c']);
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
});
