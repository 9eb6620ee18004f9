/**
 * H2ServerConnection at the frame level, driven by a raw TCP client that writes frames byte
 * by byte: what well-behaved HTTP/2 libraries never send (bad prefaces, broken flow control,
 * interrupted header blocks), and flow control and limits as RFC 9113 states them.
 */
import * as net from 'node:net';
import { etcd } from '@keyval/proto';
import { GrpcStatus } from '../status';
import { ended, fieldValue, type Frame, putMessage, RawH2Client } from '../testing/h2-frames';
import { startTestServer, type TestServer } from '../testing/test-services';
import { Flag, FrameType, H2Error, Setting, writeWindowUpdate } from './frame';

type RawClient = RawH2Client;

const putFrame = putMessage;

describe('H2ServerConnection', () => {
  let test: TestServer;
  const clients: RawClient[] = [];
  const connect = async (settings: readonly (readonly [Setting, number])[] = []): Promise<RawClient> => {
    const client = await RawH2Client.connect(test.port, { settings });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    test = await startTestServer({ maxConcurrentStreams: 4, maxHeaderListBytes: 1024 });
  });

  afterEach(() => clients.splice(0).forEach((client) => client.close()));

  afterAll(async () => {
    await test.server.shutdown(1000);
  });

  it('opens with SETTINGS stating its limits, and acknowledges ours', async () => {
    const client = await connect();
    await client.until((frames) => frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.END_STREAM));
    const settings = client.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0) as Frame;
    const values = new Map<number, number>();
    for (let at = 0; at < settings.payload.length; at += 6) {
      values.set(settings.payload.readUInt16BE(at), settings.payload.readUInt32BE(at + 2));
    }
    expect(values.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(4);
    expect(values.get(Setting.MAX_HEADER_LIST_SIZE)).toBe(1024);
    expect(client.frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0)).toBe(true);
  });

  it('answers a call in HEADERS, DATA and trailers with END_STREAM', async () => {
    const client = await connect();
    client.request(1);
    client.data(1, putFrame('k', 'v'));
    await client.until(ended(1));
    const [headers, trailers] = client.headersOf(1) as [string[], string[]];
    expect(fieldValue(headers, ':status')).toBe('200');
    expect(fieldValue(headers, 'content-type')).toBe('application/grpc');
    expect(fieldValue(trailers, 'grpc-status')).toBe('0');
    const body = Buffer.concat(client.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).map((f) => f.payload));
    expect(etcd.PutResponse.decode(body.subarray(5)).prevKv?.value.toString()).toBe('v');
  });

  it('answers PING with its payload and the ACK flag', async () => {
    const client = await connect();
    const payload = Buffer.from('12345678');
    client.send((out) => out.frame(FrameType.PING, 0, 0, payload));
    await client.until((frames) => frames.some((f) => f.type === FrameType.PING && f.flags === Flag.END_STREAM && f.payload.equals(payload)));
  });

  it('holds DATA beyond the stream window until WINDOW_UPDATE, then sends the rest', async () => {
    const client = await connect([[Setting.INITIAL_WINDOW_SIZE, 100]]);
    client.request(1);
    client.data(1, putFrame('big', '1000'));
    await client.until((frames) => frames.some((f) => f.type === FrameType.DATA && f.streamId === 1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const sent = (): number => client.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).reduce((n, f) => n + f.payload.length, 0);
    expect(sent()).toBe(100);
    expect(ended(1)(client.frames)).toBe(false);
    client.send((out) => writeWindowUpdate(out, 1, 10_000));
    await client.until(ended(1));
    expect(sent()).toBeGreaterThan(1000);
    expect(fieldValue(client.headersOf(1)[1] as string[], 'grpc-status')).toBe('0');
  });

  it('takes a header block split over CONTINUATION frames', async () => {
    const client = await connect();
    const block = client.encoder.encode([':method', 'POST', ':scheme', 'http', ':path', '/etcdserverpb.KV/Put', ':authority', 'x', 'content-type', 'application/grpc']);
    client.send((out) => {
      out.frame(FrameType.HEADERS, 0, 1, block.subarray(0, 5));
      out.frame(FrameType.CONTINUATION, 0, 1, block.subarray(5, 10));
      out.frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(10));
    });
    client.data(1, putFrame('k', 'v'));
    await client.until(ended(1));
    expect(fieldValue(client.headersOf(1)[1] as string[], 'grpc-status')).toBe('0');
  });

  it('refuses streams over SETTINGS_MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const client = await connect();
    for (const id of [1, 3, 5, 7, 9]) {
      client.request(id);
      client.data(id, putFrame('slow', ''), false);
    }
    await client.until((frames) => frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === 9));
    const rst = client.frames.find((f) => f.type === FrameType.RST_STREAM) as Frame;
    expect(rst.payload.readUInt32BE(0)).toBe(H2Error.REFUSED_STREAM);
  });

  it('cancels the handler of a stream the client resets', async () => {
    const client = await connect();
    const before = test.aborts.length;
    client.request(1);
    client.data(1, putFrame('slow', ''));
    await new Promise((resolve) => setTimeout(resolve, 50));
    client.send((out) => out.frameWith(FrameType.RST_STREAM, 0, 1, 4, (b, at) => b.writeUInt32BE(H2Error.CANCEL, at)));
    const deadline = Date.now() + 2000;
    while (test.aborts.length === before && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(test.aborts.slice(before)).toEqual([expect.stringMatching(/cancelled by the client/)]);
  });

  it('answers headers over the limit with RESOURCE_EXHAUSTED, and goes on serving', async () => {
    const client = await connect();
    const block = client.encoder.encode([':method', 'POST', ':scheme', 'http', ':path', '/etcdserverpb.KV/Put', ':authority', 'x', 'content-type', 'application/grpc', 'big', 'x'.repeat(2000)]);
    client.send((out) => out.frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block));
    await client.until(ended(1));
    const [only] = client.headersOf(1) as [string[]];
    expect(fieldValue(only, 'grpc-status')).toBe(String(GrpcStatus.RESOURCE_EXHAUSTED));
    client.request(3);
    client.data(3, putFrame('k', 'v'));
    await client.until(ended(3));
  });

  it.each([
    ['an interrupted header block', (c: RawClient) => interrupted(c), H2Error.PROTOCOL_ERROR, /interrupted/],
    ['a frame over the frame size', (c: RawClient) => c.send((out) => out.frame(FrameType.PING, 0, 0, Buffer.alloc(20_000))), H2Error.FRAME_SIZE_ERROR, /16384/],
    ['a malformed header block', (c: RawClient) => c.send((out) => out.frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0x80]))), H2Error.COMPRESSION_ERROR, /stream 1/],
    ['a stream id a client cannot use', (c: RawClient) => c.request(2), H2Error.PROTOCOL_ERROR, /stream 2/],
    ['WINDOW_UPDATE of zero on the connection', (c: RawClient) => c.send((out) => writeWindowUpdate(out, 0, 0)), H2Error.PROTOCOL_ERROR, /increment of 0/],
  ])('closes the connection with GOAWAY on %s', async (_name, misbehave, code, reason) => {
    const client = await connect();
    misbehave(client);
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code, reason: expect.stringMatching(reason) });
  });

  it('closes a connection that does not open with the HTTP/2 preface, saying so', async () => {
    const socket = net.connect(test.port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    const bytes = Buffer.concat(received);
    const goaway = bytes.subarray(bytes.lastIndexOf(Buffer.from([FrameType.GOAWAY, 0, 0, 0, 0, 0])) - 3);
    expect(goaway.readUInt32BE(9 + 4)).toBe(H2Error.PROTOCOL_ERROR);
    expect(goaway.subarray(9 + 8).toString()).toMatch(/preface/);
  });

  it('sends GOAWAY and closes the connection when the server shuts down', async () => {
    const own = await startTestServer();
    const client = await RawH2Client.connect(own.port);
    client.request(1);
    client.data(1, putFrame('k', 'v'));
    await client.until(ended(1));
    await own.server.shutdown(1000);
    await client.closedWithin();
    expect(client.goaway()?.code).toBe(H2Error.NO_ERROR);
    client.close();
  });
});

function interrupted(client: RawClient): void {
  const block = client.encoder.encode([':method', 'POST', ':path', '/x']);
  client.send((out) => {
    out.frame(FrameType.HEADERS, 0, 1, block);
    out.frame(FrameType.PING, 0, 0, Buffer.alloc(8));
  });
}
