/**
 * Services for the tests of this library, on the real etcd and Raft transport protos so the
 * same server can be driven by @grpc/grpc-js, by our client and by etcdctl.
 *
 * KV.Put picks a behaviour from the key:
 *   "slow"   waits until the call's signal aborts (deadline, cancel) and records the reason;
 *   "stubborn" waits Number(value) ms whatever happens to the call (a handler that cannot be cancelled);
 *   "fail"   throws GrpcStatusError(Number(value-before-colon), text-after-colon);
 *   "throw"  throws a plain Error (a bug: INTERNAL);
 *   "big"    answers with a prev_kv value of Number(value) bytes;
 *   other    echoes the key and value back in prev_kv.
 * KV.Range answers with the request metadata as key-values, plus "deadline-ms" (time left);
 *   for key "delay" it waits Number(range_end) ms (a linearizable read's round) and answers one
 *   key-value of `limit` bytes instead.
 * Maintenance.Snapshot streams Number(metadata "chunks") blobs of Number(metadata "size") bytes.
 * RaftTransport.Messages acknowledges every batch, and stops reading at a batch of cluster id 9
 * (until the call ends); InstallSnapshot acknowledges every chunk.
 */
import { etcd, raftpb } from '@keyval/proto';
import { GrpcServer, type GrpcServerOptions } from '../server';
import { GrpcStatusError } from '../grpc-status.error';
import { GrpcStatus } from '../status';

export interface TestServer {
  readonly server: GrpcServer;
  readonly port: number;
  readonly address: string;
  /** Abort reasons seen by "slow" puts, in order. */
  readonly aborts: string[];
  /** Handler errors reported to onHandlerError. */
  readonly handlerErrors: unknown[];
  /** How each RaftTransport.Messages handler ended: "done" or the error it saw. */
  readonly messageStreamExits: string[];
}

const header = (revision: bigint): etcd.ResponseHeader => ({
  clusterId: 0xdead_beef_0000_0001n,
  memberId: 0xffff_ffff_ffff_fff1n,
  revision,
  raftTerm: 1n,
});

export async function startTestServer(options: GrpcServerOptions = {}): Promise<TestServer> {
  const aborts: string[] = [];
  const handlerErrors: unknown[] = [];
  const messageStreamExits: string[] = [];
  const server = new GrpcServer({ onHandlerError: (error) => handlerErrors.push(error), ...options });
  let revision = 0n;
  server.addService(etcd.KVDefinition, {
    put: async (request, call) => {
      const key = request.key.toString();
      const value = request.value.toString();
      if (key === 'slow') {
        await new Promise<void>((resolve) => call.signal.addEventListener('abort', () => resolve(), { once: true }));
        aborts.push(String((call.signal.reason as Error).message));
        throw call.signal.reason;
      }
      if (key === 'stubborn') {
        await new Promise<void>((resolve) => setTimeout(resolve, Number(value)));
        return { header: header(revision), prevKv: undefined };
      }
      if (key === 'fail') {
        const colon = value.indexOf(':');
        throw new GrpcStatusError(Number(value.slice(0, colon)) as GrpcStatus, value.slice(colon + 1));
      }
      if (key === 'throw') {
        throw new Error('the handler broke');
      }
      revision += 1n;
      const prevValue = key === 'big' ? Buffer.alloc(Number(value), 0x61) : request.value;
      return {
        header: header(revision),
        prevKv: { key: request.key, value: prevValue, createRevision: 1n, modRevision: revision, version: 1n, lease: 0n },
      };
    },
    range: async (request, call) => {
      if (request.key.toString() === 'delay') {
        await new Promise<void>((resolve) => setTimeout(resolve, Number(request.rangeEnd.toString())));
        const value = Buffer.alloc(Number(request.limit), 0x72);
        return etcd.RangeResponse.fromPartial({ header: header(revision), kvs: [{ key: request.key, value, createRevision: 1n, modRevision: 1n, version: 1n }], count: 1n });
      }
      const kvs = call.metadata.keys().map((key) => {
        const text = call.metadata.get(key);
        const value = text === undefined ? (call.metadata.getBinary(key) as Buffer) : Buffer.from(text);
        return { key: Buffer.from(key), value, createRevision: 0n, modRevision: 0n, version: 0n, lease: 0n };
      });
      const left = call.deadline === undefined ? 'none' : String(call.deadline - Date.now());
      kvs.push({ key: Buffer.from('deadline-ms'), value: Buffer.from(left), createRevision: 0n, modRevision: 0n, version: 0n, lease: 0n });
      call.setTrailer('served-by', 'test-server');
      return etcd.RangeResponse.fromPartial({ header: header(revision), kvs, count: BigInt(kvs.length) });
    },
  });
  server.addService(etcd.MaintenanceDefinition, {
    snapshot: async (_request, call) => {
      const chunks = Number(call.metadata.get('chunks') ?? '3');
      const size = Number(call.metadata.get('size') ?? '10');
      for (let i = 0; i < chunks; i++) {
        await call.write({ header: header(revision), remainingBytes: BigInt((chunks - i - 1) * size), blob: Buffer.alloc(size, i % 256) });
      }
    },
  });
  server.addService(raftpb.RaftTransportDefinition, {
    messages: async (batches, call) => {
      try {
        for await (const batch of batches) {
          if (batch.clusterId === 9n) {
            await new Promise((resolve) => call.signal.addEventListener('abort', resolve, { once: true }));
          }
          if (batch.clusterId !== 7n) {
            throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, `cluster id ${batch.clusterId} is not 7`);
          }
          await call.write({ sequence: batch.sequence });
        }
        messageStreamExits.push('done');
      } catch (error) {
        messageStreamExits.push(String(error));
        throw error;
      }
    },
    installSnapshot: async (parts, call) => {
      let received = 0n;
      for await (const part of parts) {
        if (part.part?.$case === 'chunk') {
          received += BigInt(part.part.value.data.length);
          await call.write({ receivedBytes: received, done: false });
        }
      }
      await call.write({ receivedBytes: received, done: true });
    },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, address: `127.0.0.1:${port}`, aborts, handlerErrors, messageStreamExits };
}
