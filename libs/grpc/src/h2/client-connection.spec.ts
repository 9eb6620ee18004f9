/**
 * H2ClientConnection against a raw server that writes frames itself: the server's
 * concurrency limit, GOAWAY, trailers-only and informational responses, protocol errors.
 */
import * as net from 'node:net';
import { type Frame, FrameCollector } from '../testing/h2-frames';
import { H2ClientConnection } from './client-connection';
import { CONNECTION_PREFACE, Flag, FrameType, FrameWriter, H2Error, Setting, writeGoaway, writeSettings } from './frame';
import { HpackDecoder, HpackEncoder } from './hpack';
import type { H2Stream } from './stream';

/** One accepted connection on the raw server: frames read, and a way to write frames. */
class RawPeer {
  private readonly collector = new FrameCollector();
  readonly frames: Frame[] = this.collector.frames;
  readonly encoder = new HpackEncoder();
  readonly decoder = new HpackDecoder();
  private preface = Buffer.alloc(0);

  constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      // The client's preface comes first; everything after it is frames.
      const missing = CONNECTION_PREFACE.length - this.preface.length;
      if (missing > 0) {
        this.preface = Buffer.concat([this.preface, chunk.subarray(0, missing)]);
        chunk = chunk.subarray(missing);
        if (this.preface.length === CONNECTION_PREFACE.length) {
          expect(this.preface).toEqual(CONNECTION_PREFACE);
        }
      }
      this.collector.push(chunk);
    });
  }

  send(build: (out: FrameWriter) => void): void {
    const out = new FrameWriter();
    build(out);
    out.flush(this.socket);
  }

  headers(streamId: number, fields: string[], endStream: boolean): void {
    const block = this.encoder.encode(fields);
    this.send((out) => out.frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block));
  }

  /** Stream ids the client opened, in order. */
  opened(): number[] {
    return this.frames.filter((f) => f.type === FrameType.HEADERS).map((f) => f.streamId);
  }
}

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** What a stream reported, in order. */
function record(stream: H2Stream): string[] {
  const events: string[] = [];
  stream.on('response', (headers: Record<string, unknown>) => events.push(`response ${String(headers[':status'])} ${String(headers['grpc-status'] ?? '')}`.trim()));
  stream.on('trailers', (headers: Record<string, unknown>) => events.push(`trailers ${String(headers['grpc-status'])}`));
  stream.on('data', (chunk: Buffer) => events.push(`data ${chunk.toString()}`));
  stream.on('end', () => events.push('end'));
  stream.on('close', () => events.push(`close rst=${String(stream.rstCode)}`));
  return events;
}

const REQUEST = [':method', 'POST', ':scheme', 'http', ':path', '/s/m', ':authority', 'x', 'content-type', 'application/grpc'];

describe('H2ClientConnection', () => {
  let server: net.Server;
  let peers: RawPeer[];
  let client: H2ClientConnection;

  beforeEach(async () => {
    peers = [];
    server = net.createServer((socket) => peers.push(new RawPeer(socket)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    client?.destroy();
    peers.forEach((peer) => peer.socket.destroy());
    await new Promise((resolve) => server.close(resolve));
  });

  async function connect(settings: readonly (readonly [Setting, number])[] = []): Promise<RawPeer> {
    const port = (server.address() as net.AddressInfo).port;
    client = new H2ClientConnection(net.connect(port, '127.0.0.1'), { streamWindowBytes: 65_535, connectionWindowBytes: 65_535, maxHeaderListBytes: 4096 });
    await until(() => peers.length === 1);
    const peer = peers[0] as RawPeer;
    peer.send((out) => writeSettings(out, settings));
    await until(() => peer.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === Flag.END_STREAM));
    return peer;
  }

  it('sends a request as HEADERS and DATA with END_STREAM, and reads response, data and trailers', async () => {
    const peer = await connect();
    const stream = client.request(REQUEST);
    const events = record(stream);
    stream.end(Buffer.from('ping'));
    await until(() => peer.frames.some((f) => f.type === FrameType.DATA));
    const data = peer.frames.find((f) => f.type === FrameType.DATA) as Frame;
    expect([data.streamId, data.flags, data.payload.toString()]).toEqual([1, Flag.END_STREAM, 'ping']);
    peer.headers(1, [':status', '200', 'content-type', 'application/grpc'], false);
    peer.send((out) => out.frame(FrameType.DATA, 0, 1, Buffer.from('pong')));
    peer.headers(1, ['grpc-status', '0'], true);
    await until(() => events.some((e) => e.startsWith('close')));
    expect(events).toEqual(['response 200', 'data pong', 'trailers 0', 'end', 'close rst=undefined']);
  });

  it('reads a trailers-only response, skipping an informational one, and stops a request the server no longer reads', async () => {
    const peer = await connect();
    const events = record(client.request(REQUEST));
    await until(() => peer.opened().length === 1);
    peer.headers(1, [':status', '100'], false);
    peer.headers(1, [':status', '200', 'grpc-status', '5'], true);
    await until(() => events.some((e) => e.startsWith('close')));
    // The request side was still open: RST_STREAM(NO_ERROR) tells the server it ends here.
    expect(events).toEqual(['response 200 5', 'end', 'close rst=0']);
    await until(() => peer.frames.some((f) => f.type === FrameType.RST_STREAM));
    expect((peer.frames.find((f) => f.type === FrameType.RST_STREAM) as Frame).payload.readUInt32BE(0)).toBe(H2Error.NO_ERROR);
  });

  it('opens streams over the server limit only as earlier ones close, in order', async () => {
    const peer = await connect([[Setting.MAX_CONCURRENT_STREAMS, 1]]);
    const first = client.request(REQUEST);
    const second = client.request(REQUEST);
    second.end(Buffer.from('second'));
    first.end(Buffer.from('first'));
    await until(() => peer.opened().length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.opened()).toEqual([1]);
    expect(second.id).toBe(0);
    peer.headers(1, [':status', '200', 'grpc-status', '0'], true);
    await until(() => peer.opened().length === 2);
    expect(peer.opened()).toEqual([1, 3]);
    const data = peer.frames.filter((f) => f.type === FrameType.DATA).map((f) => `${f.streamId}:${f.payload.toString()}`);
    expect(data).toEqual(['1:first', '3:second']);
  });

  it('ends streams above GOAWAY last-stream-id with REFUSED_STREAM, and takes no new ones', async () => {
    const peer = await connect();
    const kept = record(client.request(REQUEST));
    const refused = record(client.request(REQUEST));
    await until(() => peer.opened().length === 2);
    let told = false;
    client.onGoaway(() => (told = true));
    peer.send((out) => writeGoaway(out, 1, H2Error.NO_ERROR, 'draining'));
    await until(() => refused.length > 0);
    expect(refused).toEqual([`close rst=${H2Error.REFUSED_STREAM}`]);
    expect(told).toBe(true);
    expect(client.usable).toBe(false);
    expect(() => client.request(REQUEST)).toThrow();
    peer.headers(1, [':status', '200', 'grpc-status', '0'], true);
    await until(() => kept.some((e) => e.startsWith('close')));
    expect(kept).toEqual(['response 200 0', 'end', 'close rst=0']);
  });

  it('closes with GOAWAY(PROTOCOL_ERROR) when the server sends HEADERS on a stream the client never opened', async () => {
    const peer = await connect();
    const events = record(client.request(REQUEST));
    peer.headers(7, [':status', '200'], true);
    await until(() => client.isClosed);
    expect(events).toEqual([`close rst=undefined`]);
    await until(() => peer.frames.some((f) => f.type === FrameType.GOAWAY));
    const goaway = peer.frames.find((f) => f.type === FrameType.GOAWAY) as Frame;
    expect(goaway.payload.readUInt32BE(4)).toBe(H2Error.PROTOCOL_ERROR);
    expect(client.lastError?.message).toMatch(/never opened/);
  });
});
