/**
 * For the HTTP/2 tests: the frames a raw peer reads, cut out of the bytes it receives
 * (RFC 9113 §4.1), independently of the connection code under test; and a raw client that
 * writes whatever frames it is told (well-formed or not), optionally stops reading, and
 * records every frame the server sends.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import { etcd } from '@keyval/proto';
import { frameBytes } from '../framing';
import { CONNECTION_PREFACE, DEFAULT_FRAME_BYTES, Flag, FrameType, FrameWriter, H2Error, type Setting, writeSettings, writeWindowUpdate } from '../h2/frame';
import { HpackDecoder, HpackEncoder } from '../h2/hpack';

/** One frame as it came off the wire. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Collects frames from chunks of bytes; a frame split across chunks waits for its rest. */
export class FrameCollector {
  readonly frames: Frame[] = [];
  private buffer = Buffer.alloc(0);

  /** Adds received bytes; returns how many frames are complete now. */
  push(chunk: Buffer): number {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 9 && this.buffer.length >= 9 + this.buffer.readUIntBE(0, 3)) {
      const length = this.buffer.readUIntBE(0, 3);
      this.frames.push({
        type: this.buffer[3] as number,
        flags: this.buffer[4] as number,
        streamId: this.buffer.readUInt32BE(5) & 0x7fff_ffff,
        payload: this.buffer.subarray(9, 9 + length),
      });
      this.buffer = this.buffer.subarray(9 + length);
    }
    return this.frames.length;
  }
}

/** A Put request as a gRPC message (prefix and protobuf). */
export const putMessage = (key: string, value: string | Buffer): Buffer =>
  frameBytes(Buffer.from(etcd.PutRequest.encode(etcd.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) })).finish()));

/** A Range request as a gRPC message. */
export const rangeMessage = (request: Partial<etcd.RangeRequest>): Buffer =>
  frameBytes(Buffer.from(etcd.RangeRequest.encode(etcd.RangeRequest.fromPartial(request)).finish()));

/** The request header list of a gRPC call to `path`, with `extra` fields after the usual ones. */
export function requestFields(path = '/etcdserverpb.KV/Put', extra: readonly string[] = []): string[] {
  return [':method', 'POST', ':scheme', 'http', ':path', path, ':authority', 'test', 'content-type', 'application/grpc', 'te', 'trailers', ...extra];
}

export interface RawClientOptions {
  /** SETTINGS sent after the preface (none: an empty SETTINGS frame). */
  readonly settings?: readonly (readonly [Setting, number])[];
  /** Send the preface and SETTINGS at once (default true). */
  readonly handshake?: boolean;
  /** Local address to connect from (any of 127.0.0.0/8). */
  readonly localAddress?: string;
  readonly host?: string;
  /** Connect with TLS (ALPN h2) with these options instead of cleartext. */
  readonly tls?: tls.ConnectionOptions;
  /** Acknowledge the server's SETTINGS as they arrive (default: when `handshake`). */
  readonly ackSettings?: boolean;
}

/** A client that speaks frames: it writes what it is told and records every frame it reads. */
export class RawH2Client {
  private readonly collector = new FrameCollector();
  readonly frames: Frame[] = this.collector.frames;
  readonly encoder = new HpackEncoder();
  readonly decoder = new HpackDecoder();
  closed = false;
  /** Bytes received in all (also those of frames not parsed while reading is paused). */
  receivedBytes = 0;
  private waiters: (() => void)[] = [];
  private readonly decodedBlocks = new Map<Frame, string[]>();
  /** One writer for every send (a flood allocates no scratch buffer per frame batch). */
  private readonly writer = new FrameWriter();
  private decodedUpTo = 0;

  private constructor(
    readonly socket: net.Socket,
    ackSettings: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.receivedBytes += chunk.length;
      const before = this.frames.length;
      this.collector.push(chunk);
      if (ackSettings && this.frames.slice(before).some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.END_STREAM) === 0)) {
        this.send((out) => out.frame(FrameType.SETTINGS, Flag.END_STREAM, 0));
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number, options: RawClientOptions = {}): Promise<RawH2Client> {
    const host = options.host ?? '127.0.0.1';
    let socket: net.Socket;
    if (options.tls !== undefined) {
      const tcp = net.connect({ port, host, localAddress: options.localAddress });
      socket = tls.connect({ socket: tcp, servername: host.startsWith('127.') ? undefined : host, ALPNProtocols: ['h2'], ...options.tls });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve());
        socket.once('error', reject);
      });
    } else {
      socket = net.connect({ port, host, localAddress: options.localAddress });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('error', reject);
      });
    }
    const client = new RawH2Client(socket, options.ackSettings ?? options.handshake !== false);
    if (options.handshake !== false) {
      socket.write(CONNECTION_PREFACE);
      client.send((out) => writeSettings(out, options.settings ?? []));
    }
    return client;
  }

  /** Writes the frames `build` gathers; returns socket.write's answer (false: the socket is backed up). */
  send(build: (out: FrameWriter) => void): boolean {
    const out = this.writer;
    build(out);
    let ok = true;
    out.flush({ write: (chunk: Buffer) => (ok = this.socket.write(chunk)) });
    return ok;
  }

  /** HEADERS (END_HEADERS) opening `streamId` with `fields` (default: a gRPC Put). */
  headers(streamId: number, fields: readonly string[] = requestFields(), endStream = false, flags = 0): void {
    const block = this.encoder.encode(fields);
    this.send((out) => out.frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0) | flags, streamId, block));
  }

  /** A gRPC call's HEADERS on `streamId` to `path`. */
  request(streamId: number, path = '/etcdserverpb.KV/Put', endStream = false): void {
    this.headers(streamId, requestFields(path), endStream);
  }

  /** DATA on `streamId`, in frames of at most 16 KiB; the last carries END_STREAM when `endStream`. */
  data(streamId: number, payload: Buffer, endStream = true): boolean {
    return this.send((out) => {
      let at = 0;
      do {
        const piece = payload.subarray(at, at + DEFAULT_FRAME_BYTES);
        at += piece.length;
        out.frame(FrameType.DATA, endStream && at >= payload.length ? Flag.END_STREAM : 0, streamId, piece);
      } while (at < payload.length);
    });
  }

  /** Grants the server a window of 2^31-1 on the connection (streams: SETTINGS_INITIAL_WINDOW_SIZE). */
  openConnectionWindow(): void {
    this.windowUpdate(0, 0x7fff_ffff - 65_535);
  }

  /** A whole unary call: HEADERS and one DATA frame with END_STREAM. */
  call(streamId: number, message: Buffer, path = '/etcdserverpb.KV/Put'): void {
    this.request(streamId, path);
    this.data(streamId, message);
  }

  rst(streamId: number, code: H2Error = H2Error.CANCEL): void {
    this.send((out) => out.frameWith(FrameType.RST_STREAM, 0, streamId, 4, (b, at) => b.writeUInt32BE(code, at)));
  }

  ping(payload = Buffer.from('12345678')): void {
    this.send((out) => out.frame(FrameType.PING, 0, 0, payload));
  }

  windowUpdate(streamId: number, increment: number): void {
    this.send((out) => writeWindowUpdate(out, streamId, increment));
  }

  /** Stops reading from the socket (the server's writes then back up). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Waits until `predicate` holds of the frames read so far; throws when the socket closes first or time runs out. */
  async until(predicate: (frames: Frame[]) => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      if (this.closed || Date.now() > deadline) {
        throw new Error(`condition not met; ${this.closed ? 'closed; ' : ''}frames: ${this.describe()}`);
      }
      await this.nextEvent();
    }
  }

  /** Waits until the server closes the connection. */
  async closedWithin(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await this.nextEvent();
    }
    if (!this.closed) {
      throw new Error(`the server did not close the connection within ${timeoutMs} ms; frames: ${this.describe()}`);
    }
  }

  /** The GOAWAY the server sent, if any. */
  goaway(): { lastStreamId: number; code: number; reason: string } | undefined {
    const frame = this.frames.find((f) => f.type === FrameType.GOAWAY);
    return frame === undefined
      ? undefined
      : { lastStreamId: frame.payload.readUInt32BE(0), code: frame.payload.readUInt32BE(4), reason: frame.payload.subarray(8).toString() };
  }

  /** The RST_STREAM code the server sent on `streamId`, if any. */
  rstCode(streamId: number): number | undefined {
    const frame = this.frames.find((f) => f.type === FrameType.RST_STREAM && f.streamId === streamId);
    return frame?.payload.readUInt32BE(0);
  }

  /**
   * The decoded header blocks of a stream, in order. Every block the server sent is decoded in
   * the order it arrived (HPACK's table depends on all of them); each HEADERS frame must carry
   * END_HEADERS (our server never splits blocks this small).
   */
  headersOf(streamId: number): string[][] {
    for (; this.decodedUpTo < this.frames.length; this.decodedUpTo++) {
      const frame = this.frames[this.decodedUpTo] as Frame;
      if (frame.type === FrameType.HEADERS) {
        this.decodedBlocks.set(frame, this.decoder.decode(frame.payload));
      }
    }
    return this.frames.filter((f) => f.type === FrameType.HEADERS && f.streamId === streamId).map((f) => this.decodedBlocks.get(f) as string[]);
  }

  /** The value of `name` in the last header block of `streamId` (trailers, or a trailers-only answer). */
  lastField(streamId: number, name: string): string | undefined {
    const blocks = this.headersOf(streamId);
    return fieldValue(blocks[blocks.length - 1] ?? [], name);
  }

  /** The DATA payload the server sent on `streamId`. */
  body(streamId: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === FrameType.DATA && f.streamId === streamId).map((f) => f.payload));
  }

  describe(): string {
    return this.frames
      .slice(-40)
      .map((f) => `${FrameType[f.type] ?? f.type}/${f.flags}/${f.streamId}`)
      .join(' ');
  }

  close(): void {
    this.socket.destroy();
  }

  private nextEvent(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      setTimeout(resolve, 50);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }
}

export function fieldValue(fields: readonly string[], name: string): string | undefined {
  const at = fields.findIndex((value, i) => i % 2 === 0 && value === name);
  return at < 0 ? undefined : fields[at + 1];
}

/** A predicate: the server has ended `streamId` (HEADERS or DATA with END_STREAM, or RST_STREAM). */
export const ended =
  (streamId: number) =>
  (frames: Frame[]): boolean =>
    frames.some(
      (f) =>
        f.streamId === streamId &&
        (f.type === FrameType.RST_STREAM || ((f.flags & Flag.END_STREAM) !== 0 && (f.type === FrameType.HEADERS || f.type === FrameType.DATA))),
    );
