/**
 * A tiny single-member etcd, in memory, for wire-compatibility tests: enough KV semantics
 * (revisions, versions, ranges, prefixes, txn compares) for etcdctl and the etcd3 client to
 * be satisfied, plus MemberList, Status and MoveLeader. Not a model of KeyVal's real store.
 */
import { etcd, type mvcc } from '@keyval/proto';
import type { GrpcServer } from '../server';
import { GrpcStatusError } from '../grpc-status.error';
import { GrpcStatus } from '../status';

export const MEMBER_ID = 0xfedc_ba98_7654_3210n; // above 2^53: only a uint64 survives it
export const CLUSTER_ID = 0x1234_5678_9abc_def0n;

export class MemoryEtcd {
  private readonly kvs = new Map<string, mvcc.KeyValue>();
  private revision = 1n;
  moveLeaderTargets: bigint[] = [];

  constructor(private readonly clientUrl: string) {}

  /** Serves KV, Cluster and Maintenance on `server`. */
  register(server: GrpcServer): void {
    server.addService(etcd.KVDefinition, {
      range: (request) => this.range(request),
      put: (request) => this.put(request),
      deleteRange: (request) => this.deleteRange(request),
      txn: (request) => this.txn(request),
    });
    server.addService(etcd.ClusterDefinition, {
      memberList: () => ({ header: this.header(), members: [this.member()] }),
    });
    server.addService(etcd.MaintenanceDefinition, {
      status: () =>
        etcd.StatusResponse.fromPartial({
          header: this.header(),
          version: '3.4.0',
          dbSize: 4096n,
          leader: MEMBER_ID,
          raftIndex: this.revision,
          raftTerm: 2n,
          raftAppliedIndex: this.revision,
        }),
      moveLeader: (request) => {
        if (request.targetID !== MEMBER_ID + 1n) {
          throw new GrpcStatusError(
            GrpcStatus.FAILED_PRECONDITION,
            `member ${request.targetID.toString(16)} is not a voter of this cluster`,
          );
        }
        this.moveLeaderTargets.push(request.targetID);
        return { header: this.header() };
      },
    });
  }

  private member(): etcd.Member {
    return { ID: MEMBER_ID, name: 'mem1', peerURLs: ['http://127.0.0.1:2380'], clientURLs: [this.clientUrl], isLearner: false };
  }

  private header(): etcd.ResponseHeader {
    return { clusterId: CLUSTER_ID, memberId: MEMBER_ID, revision: this.revision, raftTerm: 2n };
  }

  private inRange(key: Buffer, from: Buffer, end: Buffer): boolean {
    if (end.length === 0) {
      return key.equals(from);
    }
    const atOrAfter = from.length === 1 && from[0] === 0 ? true : Buffer.compare(key, from) >= 0;
    return atOrAfter && (end.length === 1 && end[0] === 0 ? true : Buffer.compare(key, end) < 0);
  }

  private select(from: Buffer, end: Buffer): mvcc.KeyValue[] {
    if (end.length > 0 && !(end.length === 1 && end[0] === 0) && Buffer.compare(from, end) >= 0) {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'range_end is not after key');
    }
    return [...this.kvs.values()].filter((kv) => this.inRange(kv.key, from, end)).sort((a, b) => Buffer.compare(a.key, b.key));
  }

  private range(request: etcd.RangeRequest): etcd.RangeResponse {
    if (request.revision > 0n) {
      throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, 'reading at a past revision is not supported');
    }
    const all = this.select(request.key, request.rangeEnd);
    const limited = request.limit > 0n ? all.slice(0, Number(request.limit)) : all;
    const kvs = request.countOnly ? [] : limited.map((kv) => (request.keysOnly ? { ...kv, value: Buffer.alloc(0) } : kv));
    return { header: this.header(), kvs, more: limited.length < all.length, count: BigInt(all.length) };
  }

  private put(request: etcd.PutRequest, bump = true): etcd.PutResponse {
    if (request.key.length === 0) {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'key is empty');
    }
    if (bump) {
      this.revision += 1n;
    }
    const previous = this.kvs.get(request.key.toString('hex'));
    const kv: mvcc.KeyValue = {
      key: request.key,
      value: request.value,
      createRevision: previous?.createRevision ?? this.revision,
      modRevision: this.revision,
      version: (previous?.version ?? 0n) + 1n,
      lease: request.lease,
    };
    this.kvs.set(request.key.toString('hex'), kv);
    return { header: this.header(), prevKv: request.prevKv ? previous : undefined };
  }

  private deleteRange(request: etcd.DeleteRangeRequest, bump = true): etcd.DeleteRangeResponse {
    const doomed = this.select(request.key, request.rangeEnd);
    if (doomed.length > 0 && bump) {
      this.revision += 1n;
    }
    for (const kv of doomed) {
      this.kvs.delete(kv.key.toString('hex'));
    }
    return { header: this.header(), deleted: BigInt(doomed.length), prevKvs: request.prevKv ? doomed : [] };
  }

  private holds(compare: etcd.Compare): boolean {
    const kv = this.kvs.get(compare.key.toString('hex'));
    const target = compare.targetUnion;
    let order: number;
    switch (target?.$case) {
      case 'value':
        order = kv === undefined ? -1 : Buffer.compare(kv.value, target.value);
        break;
      case 'version':
        order = Number((kv?.version ?? 0n) - target.value);
        break;
      case 'createRevision':
        order = Number((kv?.createRevision ?? 0n) - target.value);
        break;
      case 'modRevision':
        order = Number((kv?.modRevision ?? 0n) - target.value);
        break;
      default:
        throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `compare target ${String(target?.$case)} is not supported`);
    }
    const results: Record<number, boolean> = { 0: order === 0, 1: order > 0, 2: order < 0, 3: order !== 0 };
    return results[compare.result] ?? false;
  }

  private txn(request: etcd.TxnRequest): etcd.TxnResponse {
    const succeeded = request.compare.every((compare) => this.holds(compare));
    const ops = succeeded ? request.success : request.failure;
    if (ops.some((op) => op.request?.$case === 'requestPut' || op.request?.$case === 'requestDeleteRange')) {
      this.revision += 1n;
    }
    const responses: etcd.ResponseOp[] = ops.map((op): etcd.ResponseOp => {
      const r = op.request;
      switch (r?.$case) {
        case 'requestRange':
          return { response: { $case: 'responseRange', value: this.range(r.value) } };
        case 'requestPut':
          return { response: { $case: 'responsePut', value: this.put(r.value, false) } };
        case 'requestDeleteRange':
          return { response: { $case: 'responseDeleteRange', value: this.deleteRange(r.value, false) } };
        default:
          throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, 'nested transactions are not supported');
      }
    });
    return { header: this.header(), succeeded, responses };
  }
}
