import { GrpcStatus, GrpcStatusError, Metadata } from '@keyval/grpc';
import type { ServerCall } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { OUTCOME_TRAILER } from '@keyval/outcome';
import { NotLeaderError, nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { RangeRequest, RangeResponse, WriteResponse } from '@keyval/statemachine';
import { LeaderUnreachableError } from './api.errors';
import { CLIENT_ID_KEY, KvService, SEQUENCE_KEY } from './kv-service';
import type { KvBackend } from './kv-service';
import type { LeaderForwarder } from './leader-forwarder';

const LEADER = nodeId(2n);

/** A follower that always knows LEADER and never writes locally. */
const follower: KvBackend = {
  headerContext: () => ({ clusterId: 1n, memberId: 3n, raftTerm: 1 }),
  isLeader: () => false,
  leaderId: (): NodeId => LEADER,
  waitForLeader: async () => LEADER,
  write: async (): Promise<WriteResponse> => {
    throw new Error('a follower does not write locally');
  },
  range: async (_r: RangeRequest): Promise<RangeResponse> => ({ header: { revision: 1 }, kvs: [], more: false, count: 0 }),
  compacted: async () => undefined,
};

/** A forwarder failing with the given errors in turn, then answering. */
function scriptedForwarder(failures: unknown[]): { forwarder: LeaderForwarder; calls: () => number } {
  let calls = 0;
  const forwarder = {
    forward: async (): Promise<etcd.PutResponse> => {
      const failure = failures[calls++];
      if (failure !== undefined) throw failure;
      return { header: { clusterId: 1n, memberId: 2n, revision: 9n, raftTerm: 1n }, prevKv: undefined };
    },
    close: () => undefined,
  };
  return { forwarder: forwarder as unknown as LeaderForwarder, calls: () => calls };
}

function call(metadata: Record<string, string>, timeoutMs = 2_000): ServerCall {
  return {
    path: '/etcdserverpb.KV/Put',
    peer: 'test',
    metadata: Metadata.from(metadata),
    deadline: Date.now() + timeoutMs,
    signal: new AbortController().signal,
    setHeader: () => undefined,
    setTrailer: () => undefined,
  };
}

const put = etcd.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v') });
const lostInTransit = new GrpcStatusError(GrpcStatus.UNAVAILABLE, '127.0.0.1:2379: the connection closed');
const limits = { maxRequestBytes: 1 << 20, maxTxnOps: 128 };

describe('KvService forwarding retries', () => {
  it('retries a forward the leader certainly never received (LeaderUnreachableError), with or without a session', async () => {
    const { forwarder, calls } = scriptedForwarder([new LeaderUnreachableError('2', 'http://x:1', new Error('connect ECONNREFUSED'))]);
    const service = new KvService(follower, forwarder, { limits, defaultTimeoutMs: 2_000 });
    const response = await service.implementation.put!(put, call({}));
    expect(response.header?.revision).toBe(9n);
    expect(calls()).toBe(2);
  });

  it('retries a forward lost in transit only when the request carries a client session (the leader dedupes it)', async () => {
    const withSession = scriptedForwarder([lostInTransit]);
    const service = new KvService(follower, withSession.forwarder, { limits, defaultTimeoutMs: 2_000 });
    const response = await service.implementation.put!(put, call({ [CLIENT_ID_KEY]: 'c1', [SEQUENCE_KEY]: '1' }));
    expect(response.header?.revision).toBe(9n);
    expect(withSession.calls()).toBe(2);

    // Without a session the request may have been applied: the client must hear about it.
    const noSession = scriptedForwarder([lostInTransit]);
    const plain = new KvService(follower, noSession.forwarder, { limits, defaultTimeoutMs: 2_000 });
    await expect(plain.implementation.put!(put, call({}))).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE, details: lostInTransit.details });
    expect(noSession.calls()).toBe(1);
  });

  it("never retries the leader's own refusals, session or not", async () => {
    const refused = new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, 'stale sequence number');
    const { forwarder, calls } = scriptedForwarder([refused]);
    const service = new KvService(follower, forwarder, { limits, defaultTimeoutMs: 2_000 });
    await expect(service.implementation.put!(put, call({ [CLIENT_ID_KEY]: 'c1', [SEQUENCE_KEY]: '3' }))).rejects.toMatchObject({
      code: GrpcStatus.FAILED_PRECONDITION,
      details: 'stale sequence number',
      metadata: { [OUTCOME_TRAILER]: 'not-applied' },
    });
    expect(calls()).toBe(1);
  });

  it('stops retrying at the deadline and answers the last error', async () => {
    const { forwarder, calls } = scriptedForwarder(Array.from({ length: 1_000 }, () => lostInTransit));
    const service = new KvService(follower, forwarder, { limits, defaultTimeoutMs: 2_000 });
    const started = performance.now();
    await expect(service.implementation.put!(put, call({ [CLIENT_ID_KEY]: 'c1', [SEQUENCE_KEY]: '1' }, 200))).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(calls()).toBeGreaterThan(1);
  });
});

describe('KvService read retries', () => {
  // Chaos finding (docs/chaos.md): a leader whose disk filled up kept its Ready loop waiting
  // for space while its core stepped down. The live view (leaderId) said "no leader", but
  // waitForLeader — updated only when a Ready is handled — still named the old leader and
  // resolved at once. The read retry loop then went round through resolved promises without
  // yielding to the event loop until each call's deadline: the member sat at 100% CPU, its
  // timers (ticks, the disk-space probe) and I/O starved, and it never recovered, leaving a
  // two-voter cluster without a leader.
  it('yield to the event loop between attempts, even when waitForLeader answers at once', async () => {
    let attempts = 0;
    const leaderless: KvBackend = {
      ...follower,
      leaderId: () => 0n as NodeId,
      waitForLeader: async () => LEADER,
      range: () => {
        attempts++;
        return Promise.reject(new NotLeaderError(undefined));
      },
    };
    const service = new KvService(leaderless, scriptedForwarder([]).forwarder, { limits, defaultTimeoutMs: 2_000 });
    const started = performance.now();
    let timerRanAfterMs: number | undefined;
    setTimeout(() => (timerRanAfterMs = performance.now() - started), 0);
    const range = etcd.RangeRequest.fromPartial({ key: Buffer.from('k') });
    await expect(service.implementation.range!(range, call({}, 300))).rejects.toMatchObject({ code: GrpcStatus.UNAVAILABLE });
    expect(timerRanAfterMs).toBeDefined();
    expect(timerRanAfterMs as number).toBeLessThan(150);
    expect(attempts).toBeLessThan(100);
  });
});
