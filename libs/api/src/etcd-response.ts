/**
 * State-machine responses → etcd v3 responses (wire types), with the header fields only the
 * member knows (cluster id, member id, raft term), and the range post-processing (sorting,
 * revision filters, limit) etcd does in its server.
 */
import { etcd, mvcc } from '@keyval/proto';
import type { DeleteRangeResponse, KeyValue, PutResponse, RangeResponse, ResponseOp, TxnResponse, WriteResponse } from '@keyval/statemachine';
import { assertNever } from '@keyval/raft';
import { ETCD_MESSAGES } from './api.errors';
import type { RangePlan } from './etcd-request';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';

/** Who answers: filled into every response header. */
export interface HeaderContext {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly raftTerm: number;
}

export function header(revision: number, ctx: HeaderContext): etcd.ResponseHeader {
  return { clusterId: ctx.clusterId, memberId: ctx.memberId, revision: BigInt(revision), raftTerm: BigInt(ctx.raftTerm) };
}

export function kvToWire(kv: KeyValue): mvcc.KeyValue {
  return {
    key: Buffer.from(kv.key.buffer, kv.key.byteOffset, kv.key.byteLength),
    createRevision: BigInt(kv.createRevision),
    modRevision: BigInt(kv.modRevision),
    version: BigInt(kv.version),
    value: Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength),
    lease: 0n,
  };
}

export function rangeToWire(r: RangeResponse, ctx: HeaderContext): etcd.RangeResponse {
  return { header: header(r.header.revision, ctx), kvs: r.kvs.map(kvToWire), more: r.more, count: BigInt(r.count) };
}

export function putToWire(r: PutResponse, ctx: HeaderContext): etcd.PutResponse {
  return { header: header(r.header.revision, ctx), prevKv: r.prevKv === undefined ? undefined : kvToWire(r.prevKv) };
}

export function deleteToWire(r: DeleteRangeResponse, ctx: HeaderContext): etcd.DeleteRangeResponse {
  return { header: header(r.header.revision, ctx), deleted: BigInt(r.deleted), prevKvs: r.prevKvs.map(kvToWire) };
}

function responseOpToWire(op: ResponseOp, ctx: HeaderContext): etcd.ResponseOp {
  switch (op.type) {
    case 'range':
      return { response: { $case: 'responseRange', value: rangeToWire(op.response, ctx) } };
    case 'put':
      return { response: { $case: 'responsePut', value: putToWire(op.response, ctx) } };
    case 'deleteRange':
      return { response: { $case: 'responseDeleteRange', value: deleteToWire(op.response, ctx) } };
    case 'txn':
      return { response: { $case: 'responseTxn', value: txnToWire(op.response, ctx) } };
    default:
      return assertNever(op, 'response op');
  }
}

export function txnToWire(r: TxnResponse, ctx: HeaderContext): etcd.TxnResponse {
  return { header: header(r.header.revision, ctx), succeeded: r.succeeded, responses: r.responses.map((op) => responseOpToWire(op, ctx)) };
}

/** A write's response as the wire type of the call that made it. */
export function writeToWire(w: WriteResponse, ctx: HeaderContext): etcd.PutResponse | etcd.DeleteRangeResponse | etcd.TxnResponse {
  switch (w.type) {
    case 'put':
      return putToWire(w.response, ctx);
    case 'deleteRange':
      return deleteToWire(w.response, ctx);
    case 'txn':
      return txnToWire(w.response, ctx);
    default:
      return assertNever(w, 'write response');
  }
}

function sortKey(kv: KeyValue, target: etcd.RangeRequest_SortTarget): number | Buffer {
  switch (target) {
    case etcd.RangeRequest_SortTarget.VERSION:
      return kv.version;
    case etcd.RangeRequest_SortTarget.CREATE:
      return kv.createRevision;
    case etcd.RangeRequest_SortTarget.MOD:
      return kv.modRevision;
    case etcd.RangeRequest_SortTarget.VALUE:
      return Buffer.from(kv.value);
    default:
      return Buffer.from(kv.key);
  }
}

/**
 * Applies what the state machine did not: the revision check, revision filters, sorting and
 * the limit. `count` stays the number of keys in the range, as etcd reports it.
 */
export function finishRange(plan: RangePlan, r: RangeResponse): RangeResponse {
  if (plan.revision > r.header.revision) {
    throw new GrpcStatusError(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.futureRevision);
  }
  if (plan.revision !== 0 && plan.revision < r.header.revision) {
    throw new GrpcStatusError(
      GrpcStatus.UNIMPLEMENTED,
      `reading at a past revision (${plan.revision}; the store is at ${r.header.revision}) is not supported: KeyVal keeps only the latest version of each key`,
    );
  }
  if (!plan.postProcess) {
    return r;
  }
  const f = plan.filters;
  let kvs = r.kvs.filter(
    (kv) =>
      (f.minMod === 0 || kv.modRevision >= f.minMod) &&
      (f.maxMod === 0 || kv.modRevision <= f.maxMod) &&
      (f.minCreate === 0 || kv.createRevision >= f.minCreate) &&
      (f.maxCreate === 0 || kv.createRevision <= f.maxCreate),
  );
  if (plan.sortOrder !== etcd.RangeRequest_SortOrder.NONE) {
    const dir = plan.sortOrder === etcd.RangeRequest_SortOrder.DESCEND ? -1 : 1;
    kvs = [...kvs].sort((a, b) => {
      const x = sortKey(a, plan.sortTarget);
      const y = sortKey(b, plan.sortTarget);
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : Buffer.compare(x as Buffer, y as Buffer);
      return c === 0 ? Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) * dir : c * dir;
    });
  }
  const more = plan.limit > 0 && kvs.length > plan.limit;
  return { header: r.header, kvs: more ? kvs.slice(0, plan.limit) : kvs, more, count: r.count };
}
