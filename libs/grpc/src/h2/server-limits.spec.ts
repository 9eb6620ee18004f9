/**
 * Every limit of `./limits` at work, one test each, on an in-process server with small
 * numbers, driven by the raw frame client: the exact answer (RST_STREAM or GOAWAY code) and,
 * where the limit is about holding things, what the connection holds (GrpcServer's
 * connectionStats). The same attacks at the production defaults, with RSS and a normal
 * client's Puts checked, are in `./abuse.spec.ts`.
 */
import * as net from 'node:net';
import { etcd, raftpb } from '@keyval/proto';
import { frameBytes } from '../framing';
import type { GrpcServerOptions } from '../server';
import type { GrpcServerObserver } from '../server-observer';
import { ended, putMessage, RawH2Client, rangeMessage, requestFields } from '../testing/h2-frames';
import { startTestServer, type TestServer } from '../testing/test-services';
import { CONNECTION_PREFACE, Flag, FrameType, H2Error, Setting } from './frame';

const servers: TestServer[] = [];
const clients: RawH2Client[] = [];

async function serve(options: GrpcServerOptions): Promise<TestServer> {
  const test = await startTestServer(options);
  servers.push(test);
  return test;
}

async function connect(test: TestServer, options: Parameters<typeof RawH2Client.connect>[1] = {}): Promise<RawH2Client> {
  const client = await RawH2Client.connect(test.port, options);
  clients.push(client);
  return client;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An observer that records what the server tells it about its limits (the keyval_grpc_server_* metrics). */
function limitRecorder(): { observer: GrpcServerObserver; heard: string[] } {
  const heard: string[] = [];
  const observer: GrpcServerObserver = {
    method: () => ({ started: () => undefined, handled: () => undefined }),
    limits: {
      connectionError: (code) => heard.push(`connectionError ${H2Error[code]}`),
      streamRefused: () => heard.push('streamRefused'),
      connectionRefused: () => heard.push('connectionRefused'),
      connectionEvicted: () => heard.push('connectionEvicted'),
    },
  };
  return { observer, heard };
}

const rstOn = (streamId: number) => (frames: { type: number; streamId: number }[]) =>
  frames.some((f) => f.type === FrameType.RST_STREAM && f.streamId === streamId);

afterEach(async () => {
  clients.splice(0).forEach((client) => client.close());
  await Promise.all(servers.splice(0).map((test) => test.server.shutdown(200)));
});

describe('HTTP/2 server limits', () => {
  it('maxConcurrentStreams: a stream the client reset still counts while its handler runs', async () => {
    const test = await serve({ maxConcurrentStreams: 2 });
    const client = await connect(test);
    client.call(1, putMessage('stubborn', '400'));
    client.call(3, putMessage('stubborn', '400'));
    client.rst(1);
    client.rst(3);
    client.call(5, putMessage('k', 'v'));
    await client.until(rstOn(5));
    expect(client.rstCode(5)).toBe(H2Error.REFUSED_STREAM);
    expect(test.server.connectionStats()[0]).toMatchObject({ streams: 0, busyClosed: 2 });
    // Once the stubborn handlers end, the slots are free again.
    await waitFor(() => test.server.connectionStats()[0]?.busyClosed === 0, 'the handlers to end');
    client.call(7, putMessage('k', 'v'));
    await client.until(ended(7));
    expect(client.lastField(7, 'grpc-status')).toBe('0');
  });

  it('resetBurst / resetRatePerSecond: streams reset beyond the budget end the connection with ENHANCE_YOUR_CALM', async () => {
    const test = await serve({ resetBurst: 5, resetRatePerSecond: 0 });
    const client = await connect(test);
    for (let id = 1; id <= 11; id += 2) {
      client.request(id);
      client.rst(id);
    }
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/reset or refused/) });
  });

  it('resetBurst: streams refused over the stream limit spend the budget too', async () => {
    const { observer, heard } = limitRecorder();
    const test = await serve({ maxConcurrentStreams: 1, resetBurst: 3, resetRatePerSecond: 0, observer });
    const client = await connect(test);
    client.call(1, putMessage('stubborn', '1000'));
    for (let id = 3; id <= 11; id += 2) {
      client.call(id, putMessage('k', 'v'));
    }
    await client.closedWithin();
    expect([3, 5, 7].map((id) => client.rstCode(id))).toEqual([H2Error.REFUSED_STREAM, H2Error.REFUSED_STREAM, H2Error.REFUSED_STREAM]);
    expect(client.goaway()?.code).toBe(H2Error.ENHANCE_YOUR_CALM);
    // What the metrics count: three refused streams, then the connection error.
    expect(heard).toEqual(['streamRefused', 'streamRefused', 'streamRefused', 'streamRefused', 'connectionError ENHANCE_YOUR_CALM']);
  });

  it('maxContinuationFrames: counts frames, so empty CONTINUATION frames cannot go on without end', async () => {
    const test = await serve({ maxContinuationFrames: 3 });
    const client = await connect(test);
    const block = client.encoder.encode(requestFields());
    client.send((out) => {
      out.frame(FrameType.HEADERS, 0, 1, block);
      for (let i = 0; i < 4; i++) {
        out.frame(FrameType.CONTINUATION, 0, 1);
      }
    });
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/over 3 CONTINUATION frames/) });
  });

  it('maxQueuedControlFrames: a burst of PINGs that makes us queue more answers than allowed ends with ENHANCE_YOUR_CALM', async () => {
    const test = await serve({ maxQueuedControlFrames: 16, keepaliveMinTimeMs: 0 });
    const client = await connect(test);
    await client.until((frames) => frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.END_STREAM));
    client.send((out) => {
      for (let i = 0; i < 40; i++) {
        out.frame(FrameType.PING, 0, 0, Buffer.alloc(8, i));
      }
    });
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/control frames/) });
  });

  it('streamSendBufferBytes: a streaming handler waits once its stream holds that much unsent', async () => {
    const test = await serve({ streamSendBufferBytes: 16 * 1024 });
    const client = await connect(test, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    client.headers(1, requestFields('/etcdserverpb.Maintenance/Snapshot', ['chunks', '200', 'size', '4000']));
    client.data(1, frameBytes(Buffer.alloc(0)));
    await waitFor(() => (test.server.connectionStats()[0]?.queuedSendBytes ?? 0) > 0, 'queued response bytes');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const queued = test.server.connectionStats()[0]?.queuedSendBytes ?? 0;
    expect(queued).toBeGreaterThanOrEqual(16 * 1024);
    expect(queued).toBeLessThan(16 * 1024 + 2 * 4100);
  });

  it('connectionSendBufferBytes: with that much queued for a client that grants no window, its new streams are refused', async () => {
    const test = await serve({ connectionSendBufferBytes: 64 * 1024 });
    const client = await connect(test, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    for (let id = 1; id <= 9; id += 2) {
      client.call(id, putMessage('big', String(20_000)));
    }
    await waitFor(() => (test.server.connectionStats()[0]?.queuedSendBytes ?? 0) > 64 * 1024, 'a backlog over the limit');
    client.call(11, putMessage('k', 'v'));
    await client.until(rstOn(11));
    expect(client.rstCode(11)).toBe(H2Error.REFUSED_STREAM);
  });

  it('connectionSendBufferBytes: the server stops reading from a client that does not read', async () => {
    const test = await serve({ connectionSendBufferBytes: 64 * 1024 });
    const client = await connect(test, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0x7fff_ffff]] });
    client.openConnectionWindow();
    client.pauseReading();
    let id = 1;
    await waitFor(() => {
      client.call(id, putMessage('big', String(200_000)));
      id += 2;
      return test.server.connectionStats()[0]?.readPaused === true;
    }, 'the server to pause reading', 10_000);
    expect(test.server.connectionStats()[0]?.unsentBytes).toBeGreaterThan(64 * 1024);
    client.resumeReading();
    await waitFor(() => test.server.connectionStats()[0]?.readPaused === false, 'the server to read again');
  });

  it('connectionWindowBytes: request bytes held in partial messages are credited back only once the message completes', async () => {
    const test = await serve({ connectionWindowBytes: 65_535, streamWindowBytes: 65_535 });
    const client = await connect(test);
    const message = putMessage('k', Buffer.alloc(50_000, 1));
    client.request(1);
    client.data(1, message.subarray(0, 40_000), false);
    client.request(3);
    client.data(3, message.subarray(0, 25_535), false);
    await waitFor(() => test.server.connectionStats()[0]?.receiveWindowLeft === 0, 'the connection window to be used up');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0)).toBe(false);
    // One byte past the window is a connection error.
    client.data(3, Buffer.alloc(1), false);
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.FLOW_CONTROL_ERROR, reason: expect.stringMatching(/connection window/) });
  });

  it('connectionWindowBytes: completing the held message gives the window back', async () => {
    const test = await serve({ connectionWindowBytes: 65_535, streamWindowBytes: 65_535 });
    const client = await connect(test);
    const message = putMessage('k', Buffer.alloc(50_000, 1));
    client.request(1);
    client.data(1, message.subarray(0, 40_000), false);
    await waitFor(() => test.server.connectionStats()[0]?.receiveWindowLeft === 65_535 - 40_000, 'the bytes to be held');
    client.data(1, message.subarray(40_000));
    await client.until((frames) => frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0));
    await client.until(ended(1));
    expect(client.lastField(1, 'grpc-status')).toBe('0');
  });

  it.each([
    ['no preface', false, /no HTTP\/2 connection preface/],
    ['a preface but no SETTINGS', 'preface', /no SETTINGS/],
  ] as const)('handshakeTimeoutMs: %s within the timeout ends with GOAWAY SETTINGS_TIMEOUT', async (_name, send, reason) => {
    const test = await serve({ handshakeTimeoutMs: 150 });
    const client = await connect(test, { handshake: false });
    if (send === 'preface') {
      client.socket.write(CONNECTION_PREFACE);
    }
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.SETTINGS_TIMEOUT, reason: expect.stringMatching(reason) });
  });

  it('handshakeTimeoutMs: our SETTINGS must be acknowledged within it', async () => {
    const test = await serve({ handshakeTimeoutMs: 150 });
    const client = await connect(test, { ackSettings: false });
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.SETTINGS_TIMEOUT, reason: expect.stringMatching(/not acknowledged/) });
  });

  it('requestHeadersTimeoutMs: a header block left unfinished ends the connection', async () => {
    const test = await serve({ requestHeadersTimeoutMs: 150 });
    const client = await ackedClient(test);
    client.send((out) => out.frame(FrameType.HEADERS, 0, 1, client.encoder.encode(requestFields())));
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/not complete within 150 ms/) });
  });

  it('requestBodyTimeoutMs: a unary request not whole in time is reset with CANCEL; the connection goes on', async () => {
    const test = await serve({ requestBodyTimeoutMs: 150 });
    const client = await ackedClient(test);
    client.request(1);
    client.data(1, putMessage('k', 'v').subarray(0, 4), false);
    await client.until(rstOn(1));
    expect(client.rstCode(1)).toBe(H2Error.CANCEL);
    client.call(3, putMessage('k', 'v'));
    await client.until(ended(3));
    expect(client.lastField(3, 'grpc-status')).toBe('0');
  });

  it('requestBodyTimeoutMs: a request stream (bidi) is not timed', async () => {
    const test = await serve({ requestBodyTimeoutMs: 100 });
    const client = await ackedClient(test);
    client.request(1, '/keyval.raft.v1.RaftTransport/Messages');
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.data(1, frameBytes(raftpb.MessageBatch.encode(raftpb.MessageBatch.fromPartial({ clusterId: 7n, sequence: 1n })).finish()), false);
    await client.until((frames) => frames.some((f) => f.type === FrameType.DATA && f.streamId === 1));
    expect(client.rstCode(1)).toBeUndefined();
  });

  it('idleTimeoutMs: a connection without streams is closed with GOAWAY NO_ERROR', async () => {
    const test = await serve({ idleTimeoutMs: 150 });
    const client = await ackedClient(test);
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.NO_ERROR });
  });

  it('idleTimeoutMs: a connection whose open stream makes no progress is closed too', async () => {
    const test = await serve({ idleTimeoutMs: 200, keepaliveMinTimeMs: 0 });
    const client = await ackedClient(test);
    client.request(1, '/keyval.raft.v1.RaftTransport/Messages');
    // PINGs are no progress on the stream.
    const pinger = setInterval(() => client.ping(), 40);
    try {
      await client.closedWithin();
    } finally {
      clearInterval(pinger);
    }
    expect(client.goaway()).toMatchObject({ code: H2Error.NO_ERROR, reason: expect.stringMatching(/no progress on 1 open streams/) });
  });

  it('keepaliveIntervalMs / keepaliveTimeoutMs: a silent client is pinged, and closed when it does not answer', async () => {
    const test = await serve({ keepaliveIntervalMs: 100, keepaliveTimeoutMs: 150 });
    const client = await ackedClient(test);
    await client.until((frames) => frames.some((f) => f.type === FrameType.PING && f.flags === 0));
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.NO_ERROR, reason: expect.stringMatching(/keepalive PING not answered/) });
  });

  it('keepaliveIntervalMs: a client that answers the PINGs stays connected', async () => {
    const test = await serve({ keepaliveIntervalMs: 60, keepaliveTimeoutMs: 100 });
    const client = await ackedClient(test);
    let answered = 0;
    const answer = setInterval(() => {
      const pings = client.frames.filter((f) => f.type === FrameType.PING && f.flags === 0);
      for (const ping of pings.slice(answered)) {
        client.send((out) => out.frame(FrameType.PING, Flag.END_STREAM, 0, ping.payload));
      }
      answered = pings.length;
    }, 20);
    await new Promise((resolve) => setTimeout(resolve, 500));
    clearInterval(answer);
    expect(client.closed).toBe(false);
    expect(client.frames.filter((f) => f.type === FrameType.PING && f.flags === 0).length).toBeGreaterThanOrEqual(2);
  });

  it('keepaliveMinTimeMs: PINGs too close together, with no response data between, end with too_many_pings', async () => {
    const test = await serve({ keepaliveMinTimeMs: 60_000 });
    const client = await ackedClient(test);
    for (let i = 0; i < 4; i++) {
      client.ping();
    }
    await client.closedWithin();
    expect(client.goaway()).toMatchObject({ code: H2Error.ENHANCE_YOUR_CALM, reason: expect.stringMatching(/too_many_pings/) });
  });

  it('keepaliveMinTimeMs: PINGs between responses are fine (BDP probes)', async () => {
    const test = await serve({ keepaliveMinTimeMs: 60_000 });
    const client = await ackedClient(test);
    for (let id = 1; id <= 11; id += 2) {
      client.ping();
      client.call(id, putMessage('k', 'v'));
      await client.until(ended(id));
    }
    expect(client.closed).toBe(false);
  });

  it('goawayGraceMs: a client that does not close after our GOAWAY loses its socket after the grace period', async () => {
    const test = await serve({ goawayGraceMs: 100 });
    const socket = net.connect({ port: test.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => undefined);
    socket.resume();
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.write('GET / HTTP/1.1\r\n\r\n');
    await ended; // GOAWAY and FIN; this client keeps its side open
    expect(test.server.connectionCounts.total).toBe(1);
    await waitFor(() => test.server.connectionCounts.total === 0, 'the server to drop the connection');
    socket.destroy();
  });

  it('maxConnectionsPerAddress / maxConnections: refused per address; at the total, a silent one makes room', async () => {
    const { observer, heard } = limitRecorder();
    const test = await serve({ maxConnections: 4, maxConnectionsPerAddress: 2, observer });
    const closed = new Set<net.Socket>();
    const silent = async (localAddress: string): Promise<net.Socket> => {
      const socket = net.connect({ port: test.port, host: '127.0.0.1', localAddress });
      socket.on('error', () => undefined);
      socket.on('close', () => closed.add(socket));
      socket.resume();
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    };
    const sockets = [await silent('127.0.0.2'), await silent('127.0.0.2'), await silent('127.0.0.3'), await silent('127.0.0.3')];
    await waitFor(() => test.server.connectionCounts.total === 4, 'four connections');
    const third = await silent('127.0.0.2');
    await waitFor(() => closed.has(third), 'the fifth connection to be refused');
    expect(test.server.connectionCounts.refused).toBe(1);
    // A client that speaks takes the slot of the oldest silent connection.
    const client = await connect(test);
    client.call(1, putMessage('k', 'v'));
    await client.until(ended(1));
    expect(client.lastField(1, 'grpc-status')).toBe('0');
    expect(test.server.connectionCounts.evicted).toBe(1);
    await waitFor(() => closed.has(sockets[0] as net.Socket), 'the oldest silent connection to be evicted');
    expect(closed.has(sockets[1] as net.Socket)).toBe(false);
    expect(heard).toEqual(['connectionRefused', 'connectionEvicted']);
    sockets.forEach((socket) => socket.destroy());
  });

  it('answers a Range after all of this on a fresh server at the defaults', async () => {
    const test = await serve({});
    const client = await connect(test);
    client.call(1, rangeMessage({ key: Buffer.from('a') }), '/etcdserverpb.KV/Range');
    await client.until(ended(1));
    expect(client.lastField(1, 'grpc-status')).toBe('0');
    expect(etcd.RangeResponse.decode(client.body(1).subarray(5)).kvs.length).toBeGreaterThan(0);
  });
});

/** A client whose handshake is complete (the server's SETTINGS acknowledged). */
async function ackedClient(test: TestServer): Promise<RawH2Client> {
  const client = await connect(test);
  await client.until((frames) => frames.some((f) => f.type === FrameType.SETTINGS && f.flags === 0));
  return client;
}
