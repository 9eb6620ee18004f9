import { GrpcStatus, Metadata } from '@keyval/grpc';
import type { ServerCall } from '@keyval/grpc';
import { etcd, kvbatch } from '@keyval/proto';
import { NotLeaderError, nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { RangeResponse, SessionHeader, WriteRequest, WriteResponse } from '@keyval/statemachine';
import { KvBatchService } from './kv-batch-service';
import { KvService } from './kv-service';
import type { KvBackend } from './kv-service';
import type { LeaderForwarder } from './leader-forwarder';

const ME = nodeId(2n);

/** A leader that records each write with its session and deadline, failing keys named "nl-*" as not leader. */
function leader(): { backend: KvBackend; writes: { key: string; session: SessionHeader | undefined; deadline: number }[] } {
  const writes: { key: string; session: SessionHeader | undefined; deadline: number }[] = [];
  let revision = 1;
  const backend: KvBackend = {
    headerContext: () => ({ clusterId: 1n, memberId: 2n, raftTerm: 1 }),
    isLeader: () => true,
    leaderId: (): NodeId => ME,
    waitForLeader: async () => ME,
    write: async (op: WriteRequest, session, deadline): Promise<WriteResponse> => {
      if (op.type !== 'put') throw new Error(`unexpected ${op.type}`);
      const key = Buffer.from(op.request.key).toString();
      if (key.startsWith('nl-')) throw new NotLeaderError(nodeId(3n));
      writes.push({ key, session, deadline });
      revision += 1;
      return { type: 'put', response: { header: { revision }, prevKv: undefined } };
    },
    range: async (): Promise<RangeResponse> => ({ header: { revision }, kvs: [], more: false, count: 0 }),
    compacted: async () => undefined,
  };
  return { backend, writes };
}

function batchCall(timeoutMs = 2_000): ServerCall {
  return {
    path: '/keyval.kvbatch.v1.KVBatch/Execute',
    peer: 'test',
    metadata: new Metadata(),
    deadline: Date.now() + timeoutMs,
    signal: new AbortController().signal,
    setHeader: () => undefined,
    setTrailer: () => undefined,
  };
}

const putBytes = (key: string, value = 'v'): Buffer => Buffer.from(etcd.PutRequest.encode(etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) })).finish());
const limits = { maxRequestBytes: 1 << 10, maxTxnOps: 128 };

describe('KvBatchService', () => {
  function service(): { batch: KvBatchService; writes: ReturnType<typeof leader>['writes']; internal: unknown[] } {
    const { backend, writes } = leader();
    const internal: unknown[] = [];
    const kv = new KvService(backend, {} as LeaderForwarder, { limits, defaultTimeoutMs: 5_000 });
    return { batch: new KvBatchService(kv, { onHandlerError: (error) => internal.push(error) }), writes, internal };
  }

  it('runs each call as the unary call it carries, with its own session and deadline, answering in order', async () => {
    const { batch, writes } = service();
    const before = performance.now();
    const response = await batch.implementation.execute(
      {
        calls: [
          { method: 'Put', request: putBytes('a'), metadata: [{ key: 'keyval-client-id', value: 'c1' }, { key: 'keyval-seq', value: '4' }], timeoutMs: 300 },
          { method: 'Put', request: putBytes('b'), metadata: [], timeoutMs: 0 },
        ],
      },
      batchCall(),
    );
    expect(response.results.map((r) => r.code)).toEqual([GrpcStatus.OK, GrpcStatus.OK]);
    const revisions = response.results.map((r) => etcd.PutResponse.decode(r.response).header?.revision);
    expect(revisions).toEqual([2n, 3n]);
    expect(writes.map((w) => w.key)).toEqual(['a', 'b']);
    expect(writes[0]?.session).toEqual({ clientId: 'c1', seq: 4 });
    expect(writes[1]?.session).toBeUndefined();
    // The first call's own 300 ms; the second (no timeout of its own) gets the batch's 2 s.
    expect((writes[0]?.deadline ?? 0) - before).toBeLessThan(400);
    expect((writes[1]?.deadline ?? 0) - before).toBeGreaterThan(1_500);
  });

  it('answers each failure on its own, with its status and trailers, never failing the batch', async () => {
    const { batch, writes, internal } = service();
    const response = await batch.implementation.execute(
      {
        calls: [
          { method: 'Put', request: putBytes('nl-x'), metadata: [], timeoutMs: 500 },
          { method: 'Put', request: putBytes('big', 'x'.repeat(2_000)), metadata: [], timeoutMs: 500 },
          { method: 'Put', request: putBytes('s'), metadata: [{ key: 'keyval-seq', value: '1' }], timeoutMs: 500 },
          { method: 'Range', request: Buffer.alloc(0), metadata: [], timeoutMs: 500 },
          { method: 'Put', request: Buffer.from([0xff, 0xff, 0xff]), metadata: [], timeoutMs: 500 },
          { method: 'Put', request: putBytes('ok'), metadata: [{ key: 'Bad Key!', value: 'x' }], timeoutMs: 500 },
          { method: 'Put', request: putBytes('fine'), metadata: [], timeoutMs: 500 },
        ],
      },
      batchCall(),
    );
    const [notLeader, tooBig, halfSession, range, garbage, badMetadata, fine] = response.results as kvbatch.BatchResult[];
    expect(notLeader?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(notLeader?.message).toMatch(/^etcdserver: not leader/);
    expect(notLeader?.trailers).toContainEqual({ key: 'keyval-leader', value: '3' });
    expect(tooBig?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(halfSession?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(halfSession?.message).toMatch(/keyval-client-id and keyval-seq/);
    expect(range?.code).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(garbage?.code).toBe(GrpcStatus.INTERNAL);
    expect(garbage?.message).toMatch(/does not parse/);
    expect(badMetadata?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(fine?.code).toBe(GrpcStatus.OK);
    expect(writes.map((w) => w.key)).toEqual(['fine']);
    expect(internal).toEqual([]);
  });

  it('refuses a batch over the call limit as a whole', async () => {
    const { batch } = service();
    const calls = Array.from({ length: 4_097 }, () => ({ method: 'Put', request: putBytes('k'), metadata: [], timeoutMs: 100 }));
    await expect(batch.implementation.execute({ calls }, batchCall())).rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT });
  });
});
