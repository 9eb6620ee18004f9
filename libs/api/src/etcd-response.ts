/**
 * State-machine responses → etcd v3 responses (wire types), with the header fields only the
 * member knows (cluster id, member id, raft term).
 */
import { etcd, mvcc } from '@keyval/proto';
import type { DeleteRangeResponse, KeyValue, PutResponse, RangeResponse, ResponseOp, TxnResponse, WriteResponse } from '@keyval/statemachine';
import { assertNever } from '@keyval/raft';

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
    lease: kv.lease ?? 0n,
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
export function writeToWire(
  w: WriteResponse,
  ctx: HeaderContext,
): etcd.PutResponse | etcd.DeleteRangeResponse | etcd.TxnResponse | etcd.CompactionResponse | etcd.LeaseGrantResponse | etcd.LeaseRevokeResponse {
  switch (w.type) {
    case 'put':
      return putToWire(w.response, ctx);
    case 'deleteRange':
      return deleteToWire(w.response, ctx);
    case 'txn':
      return txnToWire(w.response, ctx);
    case 'compact':
    case 'leaseRevoke':
    case 'leaseCheckpoint':
      return { header: header(w.response.header.revision, ctx) };
    case 'leaseGrant':
      return { header: header(w.response.header.revision, ctx), ID: w.response.id, TTL: BigInt(w.response.ttl), error: '' };
    default:
      return assertNever(w, 'write response');
  }
}
