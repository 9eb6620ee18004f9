/**
 * The lean client against our server and against a @grpc/grpc-js server.
 */
import * as grpc from '@grpc/grpc-js';
import { etcd, raftpb } from '@keyval/proto';
import { GrpcChannel, parseTarget } from './channel';
import { createClient } from './client';
import { OUTCOME_TRAILER, outcomeOf } from '@keyval/outcome';
import { GrpcStatusError } from './grpc-status.error';
import { Metadata } from './metadata';
import type { ServiceDefinition } from './method';
import { GrpcServer } from './server';
import { GrpcStatus } from './status';
import { startTestServer, type TestServer } from './testing/test-services';

const put = (key: string, value: string | Buffer = ''): etcd.PutRequest =>
  etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: typeof value === 'string' ? Buffer.from(value) : value });

async function statusOf(promise: Promise<unknown>): Promise<GrpcStatusError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GrpcStatusError) {
      return error;
    }
    throw error;
  }
  throw new Error('the call succeeded');
}

describe('lean client against GrpcServer', () => {
  let test: TestServer;
  let channel: GrpcChannel;
  let kv: ReturnType<typeof createClient<typeof etcd.KVDefinition>>;

  beforeAll(async () => {
    test = await startTestServer({ maxSendMessageBytes: 8 << 20 });
    channel = new GrpcChannel(test.address, { sessions: 2 });
    kv = createClient(etcd.KVDefinition, channel);
  });

  afterAll(async () => {
    channel.close();
    await test.server.shutdown(1000);
  });

  it('makes a unary call', async () => {
    const response = await kv.put(put('a', 'b'));
    expect(response.prevKv?.value.toString()).toBe('b');
    expect(response.header?.clusterId).toBe(0xdead_beef_0000_0001n);
  });

  it('sends metadata, text and binary, and a deadline the handler sees', async () => {
    const metadata = new Metadata()
      .add('client-id', 'c-9')
      .add('sequence', '12')
      .add('blob-bin', Buffer.from([9, 8, 7]));
    const response = await kv.range(etcd.RangeRequest.fromPartial({}), { metadata, timeoutMs: 4000 });
    const seen = new Map(response.kvs.map((kv) => [kv.key.toString(), kv.value]));
    expect(seen.get('client-id')?.toString()).toBe('c-9');
    expect(seen.get('sequence')?.toString()).toBe('12');
    expect(seen.get('blob-bin')).toEqual(Buffer.from([9, 8, 7]));
    const left = Number(seen.get('deadline-ms')?.toString());
    expect(left).toBeGreaterThan(2000);
    expect(left).toBeLessThanOrEqual(4000);
  });

  it('accepts metadata as a plain object', async () => {
    const response = await kv.range(etcd.RangeRequest.fromPartial({}), { metadata: { 'client-id': 'plain' } });
    expect(response.kvs.find((kv) => kv.key.toString() === 'client-id')?.value.toString()).toBe('plain');
  });

  it('fails DEADLINE_EXCEEDED when the deadline passes', async () => {
    const started = Date.now();
    const error = await statusOf(kv.put(put('slow'), { timeoutMs: 100 }));
    expect(error.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error.name).toBe('GrpcStatusError');
  });

  it('fails at once when the deadline has already passed', async () => {
    expect((await statusOf(kv.put(put('a'), { deadline: Date.now() - 1 }))).code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });

  it('cancels on abort, and the server handler sees it', async () => {
    const before = test.aborts.length;
    const controller = new AbortController();
    const pending = statusOf(kv.put(put('slow'), { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    expect((await pending).code).toBe(GrpcStatus.CANCELLED);
    const cancelled = (): boolean => test.aborts.slice(before).some((reason) => /cancelled by the client/.test(reason));
    for (let i = 0; i < 400 && !cancelled(); i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(cancelled()).toBe(true);
  });

  it('passes the server status and message through', async () => {
    const error = await statusOf(kv.put(put('fail', '5:no such key: ключ')));
    expect(error.code).toBe(GrpcStatus.NOT_FOUND);
    expect(error.details).toBe('no such key: ключ');
  });

  it('fails UNIMPLEMENTED for an unknown method', async () => {
    const watch: ServiceDefinition = {
      fullName: 'etcdserverpb.Watch',
      methods: {
        watch: {
          name: 'Watch',
          requestType: etcd.RangeRequest,
          requestStream: false,
          responseType: etcd.RangeResponse,
          responseStream: false,
        },
      },
    };
    const client = createClient(watch, channel) as unknown as Record<string, (r: unknown) => Promise<unknown>>;
    const refused = await statusOf((client.watch as (r: unknown) => Promise<unknown>)(etcd.RangeRequest.fromPartial({})));
    expect(refused.code).toBe(GrpcStatus.UNIMPLEMENTED);
    // A call the server refused before running it says so in its trailers.
    expect(refused.metadata[OUTCOME_TRAILER]).toBe('not-applied');
  });

  it('refuses a response over its receive limit with RESOURCE_EXHAUSTED', async () => {
    const small = new GrpcChannel(test.address, { maxReceiveMessageBytes: 1000 });
    const error = await statusOf(createClient(etcd.KVDefinition, small).put(put('big', '5000')));
    small.close();
    expect(error.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('refuses a request over its send limit without sending it', async () => {
    const small = new GrpcChannel(test.address, { maxSendMessageBytes: 100 });
    const error = await statusOf(createClient(etcd.KVDefinition, small).put(put('k', Buffer.alloc(200))));
    small.close();
    expect(error.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
  });

  it('carries big messages both ways', async () => {
    const roomy = new GrpcChannel(test.address, { maxReceiveMessageBytes: 8 << 20 });
    const client = createClient(etcd.KVDefinition, roomy);
    expect((await client.put(put('k', Buffer.alloc(3 << 20, 2)))).prevKv?.value.length).toBe(3 << 20);
    expect((await client.put(put('big', String(7 << 20)))).prevKv?.value.length).toBe(7 << 20);
    roomy.close();
  });

  it('runs many concurrent calls over its sessions', async () => {
    const responses = await Promise.all(Array.from({ length: 500 }, (_, i) => kv.put(put(`k${i}`, `v${i}`))));
    expect(responses.every((r, i) => r.prevKv?.value.toString() === `v${i}`)).toBe(true);
  });

  it('reads a server stream, and cancels it when the reader stops', async () => {
    const maintenance = createClient(etcd.MaintenanceDefinition, channel);
    const firsts: number[] = [];
    for await (const chunk of maintenance.snapshot({}, { metadata: { chunks: '40', size: '100000' } })) {
      firsts.push(chunk.blob[0] as number);
    }
    expect(firsts).toEqual(Array.from({ length: 40 }, (_, i) => i));
    let read = 0;
    for await (const _chunk of maintenance.snapshot({}, { metadata: { chunks: '1000', size: '100000' } })) {
      read += 1;
      if (read === 3) {
        break;
      }
    }
    expect(read).toBe(3);
    expect((await kv.put(put('after-break', 'ok'))).prevKv?.value.toString()).toBe('ok');
  });

  it('runs a bidirectional call: requests and responses interleaved, half-close ends it OK', async () => {
    const transport = createClient(raftpb.RaftTransportDefinition, channel);
    const call = transport.messages();
    const seen: bigint[] = [];
    const reading = (async () => {
      for await (const ack of call.responses) {
        seen.push(ack.sequence);
      }
    })();
    for (let sequence = 1n; sequence <= 50n; sequence++) {
      await call.send(raftpb.MessageBatch.fromPartial({ clusterId: 7n, sequence }));
    }
    call.end();
    await reading;
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
  });

  it('a bidirectional call ends with the server’s status; sending afterwards rejects with it', async () => {
    const transport = createClient(raftpb.RaftTransportDefinition, channel);
    const call = transport.messages();
    await call.send(raftpb.MessageBatch.fromPartial({ clusterId: 8n, sequence: 1n }));
    const failure = await statusOf((async () => {
      for await (const _ack of call.responses) {
        // none
      }
    })());
    expect([failure.code, failure.details]).toEqual([GrpcStatus.FAILED_PRECONDITION, 'cluster id 8 is not 7']);
    expect((await statusOf(call.send(raftpb.MessageBatch.fromPartial({ clusterId: 7n })))).code).toBe(GrpcStatus.FAILED_PRECONDITION);
  });

  it('cancels a bidirectional call: the server handler sees its requests end', async () => {
    const transport = createClient(raftpb.RaftTransportDefinition, channel);
    const call = transport.messages();
    await call.send(raftpb.MessageBatch.fromPartial({ clusterId: 7n, sequence: 1n }));
    const iterator = call.responses[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.sequence).toBe(1n);
    const exits = test.messageStreamExits.length;
    call.cancel();
    await expect(iterator.next()).rejects.toMatchObject({ code: GrpcStatus.CANCELLED });
    for (let i = 0; i < 100 && test.messageStreamExits.length === exits; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(test.messageStreamExits.slice(exits)).toEqual([expect.stringMatching(/CANCELLED|cancelled/)]);
  });
});

describe('lean client and the connection', () => {
  it('fails UNAVAILABLE, naming the address, when nothing listens', async () => {
    const server = new GrpcServer();
    const { port } = await server.listen(0);
    await server.shutdown(0);
    const channel = new GrpcChannel(`127.0.0.1:${port}`);
    const error = await statusOf(createClient(etcd.KVDefinition, channel).put(put('a')));
    channel.close();
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(error.details).toContain(`127.0.0.1:${port}`);
    // No connection was ever made: the call is known never to have been sent.
    expect(error.outcome).toBe('never-sent');
    expect(outcomeOf(error).outcome).toBe('never-sent');
    const closed = await statusOf(createClient(etcd.KVDefinition, channel).put(put('a')));
    expect(closed).toMatchObject({ code: GrpcStatus.UNAVAILABLE, outcome: 'never-sent' });
  });

  it('never calls a call the server was running when it went away never-sent', async () => {
    const server = new GrpcServer();
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    server.addService(etcd.KVDefinition, {
      put: async (_request, call) => {
        started();
        await new Promise((resolve) => call.signal.addEventListener('abort', resolve, { once: true }));
        return etcd.PutResponse.fromPartial({});
      },
    });
    const { port } = await server.listen(0);
    const channel = new GrpcChannel(`127.0.0.1:${port}`);
    const pending = statusOf(createClient(etcd.KVDefinition, channel).put(put('a')));
    await running;
    server.forceClose();
    const error = await pending;
    channel.close();
    await server.shutdown(0);
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(error.outcome).toBeUndefined();
    expect(outcomeOf(error).outcome).toBe('maybe-applied');
  });

  it('reconnects after the server restarts on the same port', async () => {
    const first = await startTestServer();
    const channel = new GrpcChannel(first.address);
    const kv = createClient(etcd.KVDefinition, channel);
    expect((await kv.put(put('a', '1'))).prevKv?.value.toString()).toBe('1');
    await first.server.shutdown(1000);
    expect((await statusOf(kv.put(put('a', '2')))).code).toBe(GrpcStatus.UNAVAILABLE);
    const second = new GrpcServer();
    second.addService(etcd.KVDefinition, { put: (request) => etcd.PutResponse.fromPartial({ prevKv: { value: request.value } }) });
    await second.listen(first.port);
    expect((await kv.put(put('a', '3'))).prevKv?.value.toString()).toBe('3');
    channel.close();
    await second.shutdown(1000);
  });

  it('parses endpoints as etcdctl takes them', () => {
    expect(parseTarget('127.0.0.1:2379').authority).toBe('127.0.0.1:2379');
    expect(parseTarget('http://localhost:2379').authority).toBe('localhost:2379');
    expect(parseTarget('[::1]:2379').authority).toBe('[::1]:2379');
    expect(parseTarget('https://127.0.0.1:2379')).toMatchObject({ authority: '127.0.0.1:2379', secure: true });
    expect(() => parseTarget('ftp://127.0.0.1:2379')).toThrow(/only http/);
    expect(() => parseTarget('127.0.0.1')).toThrow(/port/);
    expect(() => parseTarget('http://127.0.0.1:2379/v3')).toThrow(/nothing else/);
  });
});

describe('lean client against a @grpc/grpc-js server', () => {
  let server: grpc.Server;
  let channel: GrpcChannel;

  beforeAll(async () => {
    server = new grpc.Server();
    const implementation = {
      put: (call: grpc.ServerUnaryCall<etcd.PutRequest, etcd.PutResponse>, callback: grpc.sendUnaryData<etcd.PutResponse>) => {
        if (call.request.key.toString() === 'fail') {
          const metadata = new grpc.Metadata();
          metadata.set('leader-hint', '127.0.0.1:1');
          callback({ code: grpc.status.FAILED_PRECONDITION, details: 'not the leader: ∅', metadata });
          return;
        }
        const seen = call.metadata.get('client-id')[0];
        callback(null, etcd.PutResponse.fromPartial({ prevKv: { key: Buffer.from(String(seen)), value: call.request.value } }));
      },
    };
    server.addService(etcd.KVService, implementation as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error === null ? resolve(bound) : reject(error),
      ),
    );
    channel = new GrpcChannel(`127.0.0.1:${port}`);
  });

  afterAll(async () => {
    channel.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  });

  it('makes unary calls with metadata', async () => {
    const response = await createClient(etcd.KVDefinition, channel).put(put('k', 'v'), {
      metadata: { 'client-id': 'abc' },
      timeoutMs: 5000,
    });
    expect(response.prevKv?.key.toString()).toBe('abc');
    expect(response.prevKv?.value.toString()).toBe('v');
  });

  it('reads the status, message and trailers of an error', async () => {
    const error = await statusOf(createClient(etcd.KVDefinition, channel).put(put('fail')));
    expect(error.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(error.details).toBe('not the leader: ∅');
    expect(error.metadata['leader-hint']).toBe('127.0.0.1:1');
  });

  it('gets UNIMPLEMENTED for a method the server lacks', async () => {
    expect((await statusOf(createClient(etcd.KVDefinition, channel).range(etcd.RangeRequest.fromPartial({})))).code).toBe(
      GrpcStatus.UNIMPLEMENTED,
    );
  });
});
