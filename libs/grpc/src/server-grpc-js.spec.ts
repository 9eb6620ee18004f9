/**
 * GrpcServer driven by @grpc/grpc-js clients (the generated etcd and Raft transport clients):
 * a gRPC implementation no one here wrote checks our framing, statuses and trailers.
 */
import * as grpc from '@grpc/grpc-js';
import { etcd, raftpb } from '@keyval/proto';
import { GrpcStatus } from './status';
import { startTestServer, type TestServer } from './testing/test-services';

type Callback<T> = (error: grpc.ServiceError | null, response: T) => void;

function call<T>(start: (callback: Callback<T>) => unknown): Promise<T> {
  return new Promise((resolve, reject) => start((error, response) => (error === null ? resolve(response) : reject(error))));
}

function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    () => {
      throw new Error('the call succeeded');
    },
    (error: grpc.ServiceError) => error,
  );
}

const put = (key: string, value: string | Buffer = ''): etcd.PutRequest =>
  etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: typeof value === 'string' ? Buffer.from(value) : value });

describe('GrpcServer with @grpc/grpc-js clients', () => {
  let test: TestServer;
  let kv: etcd.KVClient;
  const options = { 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 };

  beforeAll(async () => {
    test = await startTestServer({ maxReceiveMessageBytes: 4 << 20, maxSendMessageBytes: 8 << 20 });
    kv = new etcd.KVClient(test.address, grpc.credentials.createInsecure(), options);
  });

  afterAll(async () => {
    kv.close();
    await test.server.shutdown(1000);
  });

  it('answers a unary call, uint64 fields above 2^53 intact', async () => {
    const response = await call<etcd.PutResponse>((cb) => kv.put(put('a', 'b'), cb));
    expect(response.prevKv?.value.toString()).toBe('b');
    expect(response.header?.memberId).toBe(0xffff_ffff_ffff_fff1n);
  });

  it('passes request metadata (text and binary) to the handler and sends trailers', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('client-id', 'client-42');
    metadata.set('sequence', '7');
    metadata.set('token-bin', Buffer.from([0, 1, 2, 255]));
    let trailers: grpc.Metadata | undefined;
    const response = await new Promise<etcd.RangeResponse>((resolve, reject) => {
      const unary = kv.range(etcd.RangeRequest.fromPartial({}), metadata, (error, r) => (error === null ? resolve(r) : reject(error)));
      unary.on('status', (status: grpc.StatusObject) => (trailers = status.metadata));
    });
    const seen = new Map(response.kvs.map((kv) => [kv.key.toString(), kv.value]));
    expect(seen.get('client-id')?.toString()).toBe('client-42');
    expect(seen.get('sequence')?.toString()).toBe('7');
    expect(seen.get('token-bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(trailers?.get('served-by')).toEqual(['test-server']);
  });

  it('surfaces the deadline to the handler', async () => {
    const response = await call<etcd.RangeResponse>((cb) =>
      kv.range(etcd.RangeRequest.fromPartial({}), new grpc.Metadata(), { deadline: Date.now() + 5000 }, cb),
    );
    const left = Number(response.kvs.find((kv) => kv.key.toString() === 'deadline-ms')?.value.toString());
    expect(left).toBeGreaterThan(3000);
    expect(left).toBeLessThanOrEqual(5000);
  });

  it('answers DEADLINE_EXCEEDED when the deadline passes, and aborts the handler', async () => {
    const before = test.aborts.length;
    const error = await failure(call((cb) => kv.put(put('slow'), new grpc.Metadata(), { deadline: Date.now() + 100 }, cb)));
    expect(error.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => test.aborts.length > before);
    expect(test.aborts[before]).toMatch(/DEADLINE_EXCEEDED|CANCELLED/);
  });

  it('aborts the handler when the client cancels', async () => {
    const before = test.aborts.length;
    const unary = kv.put(put('slow'), () => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    unary.cancel();
    await waitFor(() => test.aborts.length > before);
    expect(test.aborts[before]).toMatch(/cancelled by the client/);
  });

  it('sends a status thrown by the handler, message percent-encoded', async () => {
    const details = 'key "x" is 100% too long: café ≥ 1.5 MiB';
    const error = await failure(call((cb) => kv.put(put('fail', `3:${details}`), cb)));
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.details).toBe(details);
  });

  it('answers INTERNAL without leaking the message for a plain handler error', async () => {
    const before = test.handlerErrors.length;
    const error = await failure(call((cb) => kv.put(put('throw'), cb)));
    expect(error.code).toBe(grpc.status.INTERNAL);
    expect(error.details).toBe('internal error');
    expect(test.handlerErrors.length).toBe(before + 1);
  });

  it('answers UNIMPLEMENTED for a declared method without a handler', async () => {
    const error = await failure(call((cb) => kv.txn(etcd.TxnRequest.fromPartial({}), cb)));
    expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(error.details).toMatch(/Txn is not implemented/);
  });

  it('answers UNIMPLEMENTED for an unknown method', async () => {
    const Generic = grpc.makeGenericClientConstructor({}, 'Nothing');
    const client = new Generic(test.address, grpc.credentials.createInsecure());
    const identity = (b: Buffer): Buffer => b;
    const error = await failure(
      call((cb) => client.makeUnaryRequest('/etcdserverpb.Watch/Watch', identity, identity, Buffer.alloc(0), cb)),
    );
    client.close();
    expect(error.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(error.details).toMatch(/unknown method \/etcdserverpb.Watch\/Watch/);
  });

  it('answers INVALID_ARGUMENT for a request that is not the method message', async () => {
    const Generic = grpc.makeGenericClientConstructor({}, 'Raw');
    const client = new Generic(test.address, grpc.credentials.createInsecure());
    const identity = (b: Buffer): Buffer => b;
    const garbage = Buffer.from([0x0a, 0xff]); // field 1, length 255, then nothing
    const error = await failure(call((cb) => client.makeUnaryRequest('/etcdserverpb.KV/Put', identity, identity, garbage, cb)));
    client.close();
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('takes a request near the receive limit and refuses one over it with RESOURCE_EXHAUSTED', async () => {
    const near = await call<etcd.PutResponse>((cb) => kv.put(put('k', Buffer.alloc((4 << 20) - 64, 1)), cb));
    expect(near.prevKv?.value.length).toBe((4 << 20) - 64);
    const error = await failure(call((cb) => kv.put(put('k', Buffer.alloc((4 << 20) + 1, 1)), cb)));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // The connection survives the refusal.
    await expect(call((cb) => kv.put(put('a', 'again'), cb))).resolves.toBeDefined();
  });

  it('sends a big response and refuses one over its send limit', async () => {
    const big = await call<etcd.PutResponse>((cb) => kv.put(put('big', String(6 << 20)), cb));
    expect(big.prevKv?.value.length).toBe(6 << 20);
    const error = await failure(call((cb) => kv.put(put('big', String(9 << 20)), cb)));
    expect(error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('serves many concurrent calls on one connection', async () => {
    const responses = await Promise.all(
      Array.from({ length: 300 }, (_, i) => call<etcd.PutResponse>((cb) => kv.put(put(`k${i}`, `v${i}`), cb))),
    );
    expect(responses.map((r) => r.prevKv?.value.toString())).toEqual(Array.from({ length: 300 }, (_, i) => `v${i}`));
  });

  it('streams server responses in order', async () => {
    const maintenance = new etcd.MaintenanceClient(test.address, grpc.credentials.createInsecure(), options);
    const metadata = new grpc.Metadata();
    metadata.set('chunks', '50');
    metadata.set('size', String(64 << 10));
    const blobs: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = maintenance.snapshot({}, metadata);
      stream.on('data', (response: etcd.SnapshotResponse) => blobs.push(response.blob[0] as number));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    maintenance.close();
    expect(blobs).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('carries a bidi stream both ways and fails it with the handler status', async () => {
    const transport = new raftpb.RaftTransportClient(test.address, grpc.credentials.createInsecure());
    const stream = transport.messages();
    const acks: bigint[] = [];
    stream.on('data', (ack: raftpb.MessageBatchAck) => acks.push(ack.sequence));
    for (let sequence = 1n; sequence <= 20n; sequence++) {
      stream.write(
        raftpb.MessageBatch.fromPartial({
          clusterId: 7n,
          from: 1n,
          to: 2n,
          sequence,
          messages: [{ term: 1n, body: { $case: 'heartbeat', value: { commit: 1n, round: sequence } } }],
        }),
      );
    }
    stream.write(raftpb.MessageBatch.fromPartial({ clusterId: 8n, sequence: 21n }));
    const error = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    transport.close();
    expect(acks).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
    expect(error.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error.details).toBe('cluster id 8 is not 7');
  });

  it('ends the request stream of a call the client cancels, so the handler stops reading', async () => {
    const transport = new raftpb.RaftTransportClient(test.address, grpc.credentials.createInsecure());
    const stream = transport.messages();
    stream.on('error', () => undefined);
    const acked = new Promise((resolve) => stream.once('data', resolve));
    stream.write(raftpb.MessageBatch.fromPartial({ clusterId: 7n, sequence: 1n }));
    await acked;
    const exitsBefore = test.messageStreamExits.length;
    stream.cancel();
    // grpc-js half-closes before it resets, so the handler may see a clean end: either way it
    // must not hang.
    await waitFor(() => test.messageStreamExits.length > exitsBefore);
    await waitFor(() => test.server.activeCalls === 0);
    transport.close();
  });

  it('reads a request stream to its end', async () => {
    const transport = new raftpb.RaftTransportClient(test.address, grpc.credentials.createInsecure());
    const stream = transport.installSnapshot();
    const acks: raftpb.InstallSnapshotResponse[] = [];
    stream.on('data', (ack: raftpb.InstallSnapshotResponse) => acks.push(ack));
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write(raftpb.InstallSnapshotRequest.fromPartial({ part: { $case: 'header', value: { totalBytes: 3000n } } }));
    for (let i = 0; i < 3; i++) {
      stream.write(
        raftpb.InstallSnapshotRequest.fromPartial({
          part: { $case: 'chunk', value: { offset: BigInt(i * 1000), data: Buffer.alloc(1000) } },
        }),
      );
    }
    stream.end();
    await ended;
    transport.close();
    expect(acks.map((a) => a.receivedBytes)).toEqual([1000n, 2000n, 3000n, 3000n]);
    expect(acks.at(-1)?.done).toBe(true);
  });
});

describe('GrpcServer shutdown', () => {
  it('finishes calls in flight, refuses new ones, then closes', async () => {
    const test = await startTestServer();
    const kv = new etcd.KVClient(test.address, grpc.credentials.createInsecure());
    await call((cb) => kv.put(put('warm', 'up'), cb));
    const inFlight = failure(call((cb) => kv.put(put('slow'), new grpc.Metadata(), { deadline: Date.now() + 300 }, cb)));
    await waitFor(() => test.server.activeCalls === 1);
    const shutdown = test.server.shutdown(5000);
    const late = await failure(call((cb) => kv.put(put('late'), new grpc.Metadata(), { deadline: Date.now() + 2000 }, cb)));
    expect(late.code).toBe(grpc.status.UNAVAILABLE);
    expect((await inFlight).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await shutdown;
    expect(test.server.activeCalls).toBe(0);
    kv.close();
  });

  it('cancels what is left after the grace period with UNAVAILABLE', async () => {
    const test = await startTestServer();
    const kv = new etcd.KVClient(test.address, grpc.credentials.createInsecure());
    const stuck = failure(call((cb) => kv.put(put('slow'), cb)));
    await waitFor(() => test.server.activeCalls === 1);
    await test.server.shutdown(100);
    const error = await stuck;
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(error.code);
    expect(test.aborts[0]).toMatch(/shutting down/);
    kv.close();
  });

  it('never leaves a status unsent: GrpcStatus values match grpc-js', () => {
    expect(GrpcStatus.DEADLINE_EXCEEDED).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(GrpcStatus.UNAUTHENTICATED).toBe(grpc.status.UNAUTHENTICATED);
  });
});

/** Polls `condition` on the event loop (no fixed sleeps): for effects on the server side. */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
