/**
 * GrpcServer at the HTTP/2 level, with a bare `node:http2` client: the cases a well-behaved
 * gRPC library never produces (bad prefixes, cut streams, bad headers) and exact framing.
 */
import * as http2 from 'node:http2';
import { etcd, raftpb } from '@keyval/proto';
import { frameBytes } from './framing';
import { GrpcStatus } from './status';
import { startTestServer, type TestServer } from './testing/test-services';

interface RawResponse {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only response. */
  status: number;
  message: string | undefined;
}

const putBytes = (key: string, value: string): Buffer =>
  Buffer.from(etcd.PutRequest.encode(etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) })).finish());

describe('GrpcServer protocol handling', () => {
  let test: TestServer;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    test = await startTestServer();
    session = http2.connect(`http://${test.address}`);
  });

  afterAll(async () => {
    session.close();
    await test.server.shutdown(1000);
  });

  /** Sends `chunks` as separate writes (separate DATA frames), each on its own tick. */
  async function raw(chunks: Buffer[], extraHeaders: http2.OutgoingHttpHeaders = {}, path = '/etcdserverpb.KV/Put'): Promise<RawResponse> {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extraHeaders,
    });
    const result = new Promise<RawResponse>((resolve, reject) => {
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const body: Buffer[] = [];
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => body.push(chunk));
      stream.on('error', reject);
      stream.on('close', () => {
        const source = trailers ?? headers;
        resolve({
          headers,
          trailers,
          body: Buffer.concat(body),
          status: Number(source['grpc-status'] ?? -1),
          message: source['grpc-message'] as string | undefined,
        });
      });
    });
    for (const chunk of chunks) {
      stream.write(chunk);
      await new Promise((resolve) => setImmediate(resolve));
    }
    stream.end();
    return result;
  }

  it('answers OK with headers, one length-prefixed message and a grpc-status trailer', async () => {
    const response = await raw([frameBytes(putBytes('a', 'b'))]);
    expect(response.headers[':status']).toBe(200);
    expect(response.headers['content-type']).toBe('application/grpc');
    expect(response.headers['date']).toBeUndefined();
    expect(response.trailers?.['grpc-status']).toBe('0');
    expect(response.body[0]).toBe(0);
    expect(response.body.readUInt32BE(1)).toBe(response.body.length - 5);
    expect(etcd.PutResponse.decode(response.body.subarray(5)).prevKv?.value.toString()).toBe('b');
  });

  it('assembles a request split across DATA frames, one byte at a time', async () => {
    const frame = frameBytes(putBytes('split', 'across frames'));
    const response = await raw([...frame].map((byte) => Buffer.from([byte])));
    expect(response.status).toBe(GrpcStatus.OK);
    expect(etcd.PutResponse.decode(response.body.subarray(5)).prevKv?.value.toString()).toBe('across frames');
  });

  it('answers errors trailers-only: the status in the one HEADERS frame', async () => {
    const response = await raw([frameBytes(putBytes('fail', '9:not now'))]);
    expect(response.trailers).toBeUndefined();
    expect(response.headers['grpc-status']).toBe(String(GrpcStatus.FAILED_PRECONDITION));
    expect(response.headers['grpc-message']).toBe('not now');
    expect(response.body.length).toBe(0);
  });

  it('refuses a compressed message with UNIMPLEMENTED', async () => {
    const payload = putBytes('a', 'b');
    const frame = Buffer.concat([Buffer.from([1, 0, 0, 0, payload.length]), payload]);
    const response = await raw([frame], { 'grpc-encoding': 'gzip' });
    expect(response.status).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(response.message).toMatch(/compressed/);
  });

  it('refuses a stream that ends mid-message with INTERNAL', async () => {
    const frame = frameBytes(putBytes('a', 'b'));
    const response = await raw([frame.subarray(0, frame.length - 2)]);
    expect(response.status).toBe(GrpcStatus.INTERNAL);
    expect(response.message).toMatch(/middle of a message/);
  });

  it('refuses a unary call with no message, or two, with INTERNAL', async () => {
    expect((await raw([])).status).toBe(GrpcStatus.INTERNAL);
    const two = await raw([Buffer.concat([frameBytes(putBytes('a', 'b')), frameBytes(putBytes('c', 'd'))])]);
    expect(two.status).toBe(GrpcStatus.INTERNAL);
    expect(two.message).toMatch(/one request message/);
  });

  it('refuses a malformed grpc-timeout with INTERNAL', async () => {
    const response = await raw([frameBytes(putBytes('a', 'b'))], { 'grpc-timeout': '10 seconds' });
    expect(response.status).toBe(GrpcStatus.INTERNAL);
    expect(response.message).toMatch(/grpc-timeout/);
  });

  it.each(['1n', '1u', '1m'])('answers DEADLINE_EXCEEDED for a grpc-timeout of %s', async (timeout) => {
    const response = await raw([frameBytes(putBytes('slow', ''))], { 'grpc-timeout': timeout });
    expect(response.status).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });

  it('answers HTTP 415 for a content-type that is not gRPC', async () => {
    const response = await raw([frameBytes(putBytes('a', 'b'))], { 'content-type': 'application/json' });
    expect(response.headers[':status']).toBe(415);
    expect(response.status).toBe(GrpcStatus.INTERNAL);
  });

  it('answers HTTP 405 for a GET', async () => {
    const stream = session.request({ ':method': 'GET', ':path': '/etcdserverpb.KV/Put', 'content-type': 'application/grpc' });
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on('response', resolve));
    stream.close();
    expect(headers[':status']).toBe(405);
  });

  it('fails the request stream of a call whose connection drops, so the handler stops reading', async () => {
    const lost = http2.connect(`http://${test.address}`);
    const stream = lost.request({
      ':method': 'POST',
      ':path': '/keyval.raft.v1.RaftTransport/Messages',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('error', () => undefined);
    const acked = new Promise((resolve) => stream.once('data', resolve));
    stream.write(frameBytes(raftpb.MessageBatch.encode(raftpb.MessageBatch.fromPartial({ clusterId: 7n, sequence: 1n })).finish()));
    await acked;
    const exitsBefore = test.messageStreamExits.length;
    lost.destroy();
    for (let i = 0; i < 500 && test.messageStreamExits.length === exitsBefore; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(test.messageStreamExits.slice(exitsBefore)).toEqual([expect.stringMatching(/CANCELLED/)]);
  });

  it('still serves the connection after all of the above', async () => {
    const response = await raw([frameBytes(putBytes('after', 'ok'))]);
    expect(response.status).toBe(GrpcStatus.OK);
    expect(test.server.activeCalls).toBeLessThanOrEqual(1);
  });
});
