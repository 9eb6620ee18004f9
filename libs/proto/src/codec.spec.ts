/**
 * Round trips through the generated codecs, with uint64 ids above 2^53 (etcd member ids are
 * random uint64s), plus a few byte-exact encodings that pin the etcd wire format.
 */
import * as fc from 'fast-check';
import { admin, etcd, mvcc, raftpb } from './index';

const BIG_ID = 0xfedc_ba98_7654_3210n; // above 2^53 and above 2^63
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The slow obvious protobuf varint: seven bits at a time, low bits first. */
function varint(value: bigint): Uint8Array {
  const out: number[] = [];
  let rest = value;
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest === 0n ? low : low | 0x80);
  } while (rest !== 0n);
  return Uint8Array.from(out);
}

describe('etcd messages', () => {
  it('encodes PutRequest exactly as etcd does', () => {
    const bytes = etcd.PutRequest.encode(
      etcd.PutRequest.fromPartial({ key: Buffer.from('foo'), value: Buffer.from('bar'), prevKv: true }),
    ).finish();
    // field 1 (key, bytes) "foo", field 2 (value) "bar", field 4 (prev_kv, varint) 1
    expect(hex(bytes)).toBe('0a03666f6f1203626172' + '2001');
  });

  it('round-trips a Member whose id is above 2^53', () => {
    const member = etcd.Member.fromPartial({ ID: BIG_ID, name: 'n1', peerURLs: ['http://127.0.0.1:2380'], isLearner: true });
    const bytes = etcd.Member.encode(member).finish();
    expect(etcd.Member.decode(bytes)).toEqual(member);
    // Field 1 as a varint: ten bytes for an id with the top bit set.
    expect(hex(bytes).startsWith('08' + hex(varint(BIG_ID)))).toBe(true);
    expect(varint(BIG_ID).byteLength).toBe(10);
  });

  it('round-trips a ResponseHeader with the largest uint64', () => {
    const header = etcd.ResponseHeader.fromPartial({ clusterId: MAX_U64, memberId: BIG_ID, revision: 42n, raftTerm: 7n });
    expect(etcd.ResponseHeader.decode(etcd.ResponseHeader.encode(header).finish())).toEqual(header);
  });

  it('refuses a uint64 field value that does not fit 64 bits', () => {
    expect(() => etcd.Member.encode(etcd.Member.fromPartial({ ID: MAX_U64 + 1n })).finish()).toThrow(/too large/);
  });

  it('round-trips a nested Txn with every oneof case', () => {
    const txn = etcd.TxnRequest.fromPartial({
      compare: [
        {
          result: etcd.Compare_CompareResult.EQUAL,
          target: etcd.Compare_CompareTarget.VALUE,
          key: Buffer.from('k'),
          targetUnion: { $case: 'value', value: Buffer.from('v') },
        },
        {
          result: etcd.Compare_CompareResult.GREATER,
          target: etcd.Compare_CompareTarget.MOD,
          key: Buffer.from('k'),
          targetUnion: { $case: 'modRevision', value: 9n },
        },
      ],
      success: [
        { request: { $case: 'requestPut', value: { key: Buffer.from('k'), value: Buffer.from('w') } } },
        { request: { $case: 'requestRange', value: { key: Buffer.from('a'), rangeEnd: Buffer.from('b'), limit: 10n } } },
      ],
      failure: [
        { request: { $case: 'requestDeleteRange', value: { key: Buffer.from('k'), prevKv: true } } },
        { request: { $case: 'requestTxn', value: { success: [{ request: { $case: 'requestPut', value: { key: Buffer.from('x') } } }] } } },
      ],
    });
    expect(etcd.TxnRequest.decode(etcd.TxnRequest.encode(txn).finish())).toEqual(txn);
  });

  it('round-trips a RangeResponse with key-values', () => {
    const response = etcd.RangeResponse.fromPartial({
      header: { clusterId: BIG_ID, memberId: 1n, revision: 5n, raftTerm: 2n },
      kvs: [
        mvcc.KeyValue.fromPartial({ key: Buffer.from('a'), value: Buffer.alloc(300, 7), createRevision: 1n, modRevision: 5n, version: 3n }),
      ],
      count: 1n,
    });
    expect(etcd.RangeResponse.decode(etcd.RangeResponse.encode(response).finish())).toEqual(response);
  });

  it('names service paths as etcd does', () => {
    expect(etcd.KVService.put.path).toBe('/etcdserverpb.KV/Put');
    expect(etcd.ClusterService.memberList.path).toBe('/etcdserverpb.Cluster/MemberList');
    expect(etcd.MaintenanceService.moveLeader.path).toBe('/etcdserverpb.Maintenance/MoveLeader');
    expect(etcd.KVDefinition.fullName).toBe('etcdserverpb.KV');
  });
});

describe('raft transport messages', () => {
  const meta: raftpb.SnapshotMeta = { index: 100n, term: 3n, config: { voters: [1n, BIG_ID], learners: [MAX_U64] } };
  const bodies: NonNullable<raftpb.RaftMessage['body']>[] = [
    { $case: 'preVote', value: { lastLogIndex: 10n, lastLogTerm: 2n } },
    { $case: 'preVoteResponse', value: { reject: true } },
    { $case: 'vote', value: { lastLogIndex: 10n, lastLogTerm: 2n, transfer: true } },
    { $case: 'voteResponse', value: { reject: false } },
    {
      $case: 'append',
      value: {
        prevLogIndex: 9n,
        prevLogTerm: 2n,
        commit: 8n,
        entries: [
          { term: 3n, index: 10n, type: raftpb.EntryType.ENTRY_TYPE_NORMAL, data: Buffer.from('put') },
          { term: 3n, index: 11n, type: raftpb.EntryType.ENTRY_TYPE_CONF_CHANGE, data: Buffer.from([1, 2, 3]) },
          { term: 3n, index: 12n, type: raftpb.EntryType.ENTRY_TYPE_NORMAL, data: Buffer.alloc(0) },
        ],
      },
    },
    { $case: 'appendResponse', value: { index: 11n, reject: true, hintIndex: 7n, hintTerm: 1n } },
    { $case: 'heartbeat', value: { commit: 11n, round: 12345n } },
    { $case: 'heartbeatResponse', value: { round: 12345n } },
    { $case: 'snapshot', value: { snapshot: meta } },
    { $case: 'timeoutNow', value: {} },
    { $case: 'readIndex', value: { context: 'read-1' } },
    { $case: 'readIndexResponse', value: { context: 'read-1', index: 11n, reject: false } },
  ];

  it('has a body for every message type of the Raft core', () => {
    expect(bodies.map((b) => b.$case)).toEqual([
      'preVote',
      'preVoteResponse',
      'vote',
      'voteResponse',
      'append',
      'appendResponse',
      'heartbeat',
      'heartbeatResponse',
      'snapshot',
      'timeoutNow',
      'readIndex',
      'readIndexResponse',
    ]);
  });

  it('round-trips a batch holding every message type', () => {
    const batch = raftpb.MessageBatch.fromPartial({
      clusterId: BIG_ID,
      from: MAX_U64,
      to: 2n ** 53n + 1n,
      sequence: 77n,
      messages: bodies.map((body, i) => ({ term: BigInt(i + 1), body })),
    });
    const decoded = raftpb.MessageBatch.decode(raftpb.MessageBatch.encode(batch).finish());
    expect(decoded).toEqual(batch);
  });

  it('round-trips snapshot transfer parts', () => {
    const header = raftpb.InstallSnapshotRequest.fromPartial({
      part: { $case: 'header', value: { clusterId: BIG_ID, from: 1n, to: 2n, term: 3n, meta, totalBytes: 2n ** 40n, crc32c: 0xffff_ffff } },
    });
    const chunk = raftpb.InstallSnapshotRequest.fromPartial({
      part: { $case: 'chunk', value: { offset: 2n ** 33n, data: Buffer.alloc(1024, 1), crc32c: 0x1234_5678 } },
    });
    for (const part of [header, chunk]) {
      expect(raftpb.InstallSnapshotRequest.decode(raftpb.InstallSnapshotRequest.encode(part).finish())).toEqual(part);
    }
  });

  it('round-trips any uint64 ids and terms (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: MAX_U64 }),
        fc.bigInt({ min: 0n, max: MAX_U64 }),
        fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
        (from, to, t) => {
          const batch = raftpb.MessageBatch.fromPartial({
            clusterId: to ^ from,
            from,
            to,
            messages: [{ term: t, body: { $case: 'timeoutNow', value: {} } }],
          });
          expect(raftpb.MessageBatch.decode(raftpb.MessageBatch.encode(batch).finish())).toEqual(batch);
        },
      ),
    );
  });
});

describe('admin messages', () => {
  it('round-trips a leader status with follower progress', () => {
    const status = admin.StatusResponse.fromPartial({
      header: { clusterId: BIG_ID, memberId: 1n, memberName: 'n1', raftTerm: 4n },
      memberId: 1n,
      name: 'n1',
      role: admin.Role.ROLE_LEADER,
      term: 4n,
      leaderId: 1n,
      commitIndex: 1000n,
      appliedIndex: 999n,
      lastLogIndex: 1001n,
      snapshotIndex: 500n,
      walBytes: 64n << 20n,
      dbBytes: 3n << 30n,
      health: admin.Health.HEALTH_OK,
      followers: [
        {
          memberId: BIG_ID,
          name: 'n2',
          matchIndex: 1001n,
          nextIndex: 1002n,
          lag: 0n,
          state: admin.ReplicationState.REPLICATION_STATE_REPLICATE,
          recentActive: true,
        },
        {
          memberId: MAX_U64,
          name: 'n3',
          isLearner: true,
          matchIndex: 10n,
          nextIndex: 11n,
          lag: 991n,
          state: admin.ReplicationState.REPLICATION_STATE_SNAPSHOT,
        },
      ],
    });
    expect(admin.StatusResponse.decode(admin.StatusResponse.encode(status).finish())).toEqual(status);
    expect(admin.AdminService.snapshotSave.responseStream).toBe(true);
  });

  it('round-trips a snapshot download header', () => {
    const part = admin.SnapshotSaveResponse.fromPartial({
      part: {
        $case: 'header',
        value: {
          meta: { index: 5n, term: 1n, config: { voters: [BIG_ID] } },
          totalBytes: 10n,
          crc32c: 1,
          members: [{ id: BIG_ID, name: 'n1', peerUrls: ['http://127.0.0.1:2380'] }],
        },
      },
    });
    expect(admin.SnapshotSaveResponse.decode(admin.SnapshotSaveResponse.encode(part).finish())).toEqual(part);
  });
});
