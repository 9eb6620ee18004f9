/**
 * One HTTP/2 connection over cleartext TCP (h2c with prior knowledge, as gRPC uses it), in
 * JavaScript: frames parsed straight from the socket's chunks, HPACK in `./hpack`, flow
 * control both ways, and every frame of one event-loop turn written with one socket write.
 * Node's own `http2` costs about three times as much CPU per unary call, most of it in
 * per-stream objects and calls between C++ and JavaScript.
 *
 *     socket ─► (preface) ─► frames ─┬─ HEADERS(+CONTINUATION) ─► HPACK ─► role: handleHeaderBlock
 *                                    ├─ DATA ─► flow control ─► stream 'data' / 'end'
 *                                    ├─ RST_STREAM ─► stream closed (aborted)
 *                                    └─ SETTINGS, PING, WINDOW_UPDATE, GOAWAY ─► connection state
 *     streams ─► FrameWriter ─(next tick)─► socket
 *
 * The roles (H2ServerConnection, H2ClientConnection) add what differs: who opens streams and
 * what a header block means. Errors follow RFC 9113 §5.4: a stream error resets that stream;
 * a connection error sends GOAWAY with the code and a reason and closes the connection.
 */
import type { Socket } from 'node:net';
import {
  applySettings,
  DEFAULT_FRAME_BYTES,
  DEFAULT_WINDOW,
  defaultSettings,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  FrameWriter,
  H2Error,
  H2ProtocolError,
  type H2Settings,
  type Setting,
  unpad,
  WINDOW_MAX,
  writeGoaway,
  writeRstStream,
  writeSettings,
  writeWindowUpdate,
} from './frame';
import { HpackDecoder, HpackEncoder, HpackError } from './hpack';
import type { H2Stream, StreamHost } from './stream';

export interface H2ConnectionOptions {
  /** Receive window we give each stream, and the connection as a whole. */
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxHeaderListBytes: number;
}

/** Unsent socket bytes above which streams are asked to wait. */
const CONGESTED_BYTES = 1 << 20;
/** Unsent control-frame bytes (PING and SETTINGS answers) a peer may make us queue before we give up on it. */
const UNREAD_BYTES_MAX = 16 << 20;
/** A header block, across CONTINUATION frames, may be at most this many times the header list limit. */
const HEADER_BLOCK_FACTOR = 2;
export const ACK = Flag.END_STREAM;

/** Where the connection is: reading the client preface (servers), waiting for the peer's first SETTINGS, running, closed. */
export type Phase = 'preface' | 'settings' | 'frames' | 'closed';

export abstract class H2Connection implements StreamHost {
  readonly remoteAddress: string;
  protected readonly out = new FrameWriter();
  protected readonly peerSettings: H2Settings = defaultSettings();
  protected readonly streams = new Map<number, H2Stream>();
  protected phase: Phase;
  /** Set when a GOAWAY was sent (no new streams from the peer) or received (none to the peer). */
  protected goingAway = false;
  protected peerGoingAway = false;
  private readonly decoder: HpackDecoder;
  private readonly encoder = new HpackEncoder();
  /** Streams with DATA queued and no window left to send it. */
  private readonly blocked = new Set<H2Stream>();
  private pending: Buffer | undefined;
  /** Window the peer has left on the connection for DATA to us, and what we consumed and have not yet credited. */
  private receiveWindow = DEFAULT_WINDOW;
  private uncredited = 0;
  private sendWindow = DEFAULT_WINDOW;
  /** A header block being collected across CONTINUATION frames. */
  private headerBlock: { streamId: number; endStream: boolean; fragments: Buffer[]; bytes: number } | undefined;
  private flushScheduled = false;
  private readonly closeListeners: (() => void)[] = [];

  protected constructor(
    protected readonly socket: Socket,
    protected readonly options: H2ConnectionOptions,
    firstPhase: Phase,
    settings: readonly (readonly [Setting, number])[],
    preface?: Buffer,
  ) {
    this.phase = firstPhase;
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.decoder = new HpackDecoder(4096, options.maxHeaderListBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: Error) => this.destroy(error));
    socket.on('close', () => this.destroy());
    socket.on('drain', () => this.onSocketDrain());
    if (preface !== undefined) {
      this.out.raw(preface);
    }
    writeSettings(this.out, settings);
    if (options.connectionWindowBytes > DEFAULT_WINDOW) {
      writeWindowUpdate(this.out, 0, options.connectionWindowBytes - DEFAULT_WINDOW);
      this.receiveWindow = options.connectionWindowBytes;
    }
    this.scheduleFlush();
  }

  get congested(): boolean {
    return this.socket.writableLength > CONGESTED_BYTES;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Graceful close: GOAWAY now, no new streams; the socket ends once open streams finish. */
  close(): void {
    if (this.phase === 'closed' || this.goingAway) {
      return;
    }
    this.goingAway = true;
    writeGoaway(this.out, this.lastPeerStreamId(), H2Error.NO_ERROR, 'shutting down');
    this.scheduleFlush();
    this.maybeEnd();
  }

  /** Closes at once: every open stream ends aborted. `error` is why, when something failed. */
  destroy(error?: Error): void {
    if (this.phase === 'closed') {
      return;
    }
    this.phase = 'closed';
    this.connectionLost(error);
    for (const stream of this.streams.values()) {
      stream.markClosed(true);
    }
    this.streams.clear();
    this.blocked.clear();
    this.socket.destroy();
    this.notifyClosed();
  }

  /** Writes what the frames of this turn gathered. */
  flush(): void {
    this.flushScheduled = false;
    if (this.phase !== 'closed' && this.out.pendingBytes > 0) {
      this.out.flush(this.socket);
    }
  }

  // ---- what the roles add ----

  /** A complete header block for `streamId`; `tooLarge` when it was over the header list limit (fields then empty). */
  protected abstract handleHeaderBlock(streamId: number, endStream: boolean, fields: string[], tooLarge: boolean): void;
  /** True when `streamId` is one the peer could have used by now (for "never opened" checks). */
  protected abstract streamWasOpened(streamId: number): boolean;
  /** The last stream the peer opened that we take, as GOAWAY states it. */
  protected abstract lastPeerStreamId(): number;
  /** The peer sent GOAWAY: streams above `lastStreamId` it will not process. */
  protected abstract handleGoaway(lastStreamId: number, code: number, reason: string): void;
  /** The connection is going down (before its streams are closed); `error` is why, if it failed. */
  protected connectionLost(error: Error | undefined): void {
    void error;
  }
  /** Bytes at the start of the connection, before frames; returns how many were used (servers read the preface here). */
  protected readPreface(data: Buffer): number {
    void data;
    return 0;
  }

  // ---- StreamHost ----

  sendHeaders(stream: H2Stream, fields: readonly string[], endStream: boolean): void {
    if (this.phase === 'closed') {
      return;
    }
    if (endStream && stream.queuedBytes > 0) {
      throw new Error(`stream ${stream.id}: END_STREAM before its queued DATA`);
    }
    const block = this.encoder.encode(fields);
    const flags = endStream ? Flag.END_STREAM : 0;
    const frameMax = this.peerSettings.maxFrameBytes;
    if (block.length <= frameMax) {
      this.out.frame(FrameType.HEADERS, flags | Flag.END_HEADERS, stream.id, block);
    } else {
      this.out.frame(FrameType.HEADERS, flags, stream.id, block.subarray(0, frameMax));
      for (let at = frameMax; at < block.length; at += frameMax) {
        const last = at + frameMax >= block.length;
        this.out.frame(FrameType.CONTINUATION, last ? Flag.END_HEADERS : 0, stream.id, block.subarray(at, at + frameMax));
      }
    }
    this.scheduleFlush();
  }

  /**
   * Frames what `stream` has queued as far as both windows allow. When the stream's end is
   * due and no trailers follow, the last DATA frame carries END_STREAM.
   */
  pump(stream: H2Stream): void {
    if (this.phase === 'closed' || stream.closed || stream.id === 0) {
      return; // id 0: a client stream waiting to open; it is pumped when it opens.
    }
    const frameMax = this.peerSettings.maxFrameBytes;
    const queue = stream.queue;
    while (queue.length > 0) {
      const chunk = queue[0] as Buffer;
      const bytes = Math.min(chunk.length, stream.sendWindow, this.sendWindow, frameMax);
      if (bytes <= 0) {
        this.blocked.add(stream);
        this.scheduleFlush();
        return;
      }
      const whole = bytes === chunk.length;
      const endsStream = whole && queue.length === 1 && stream.endRequested && !stream.waitForTrailers;
      if (whole) {
        queue.shift();
      } else {
        queue[0] = chunk.subarray(bytes);
      }
      this.out.frame(FrameType.DATA, endsStream ? Flag.END_STREAM : 0, stream.id, whole ? chunk : chunk.subarray(0, bytes));
      stream.queuedBytes -= bytes;
      stream.sendWindow -= bytes;
      this.sendWindow -= bytes;
      if (endsStream) {
        stream.localEnded = true;
      }
    }
    this.blocked.delete(stream);
    this.scheduleFlush();
    if (stream.endRequested && !stream.localEnded) {
      stream.finishSending();
    } else if (stream.localEnded) {
      stream.maybeClose();
    }
    stream.maybeEmitDrain();
  }

  /** Ends `stream`'s side with an empty DATA frame carrying END_STREAM. */
  endWithData(stream: H2Stream): void {
    if (this.phase !== 'closed') {
      this.out.frame(FrameType.DATA, Flag.END_STREAM, stream.id);
      this.scheduleFlush();
    }
  }

  consumed(stream: H2Stream, bytes: number): void {
    this.creditStream(stream, bytes);
  }

  reset(stream: H2Stream, code: H2Error): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    if (this.phase !== 'closed' && stream.id !== 0) {
      writeRstStream(this.out, stream.id, code);
      this.scheduleFlush();
    }
    this.maybeEnd();
  }

  /** Called when a stream finished both ways. */
  streamClosed(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.maybeEnd();
  }

  // ---- reading ----

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') {
      return;
    }
    let data = chunk;
    if (this.pending !== undefined) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    try {
      const used = this.parse(data);
      if (used < data.length && (this.phase as Phase) !== 'closed') {
        // Keep the rest in a copy of its own: a slice would pin the whole socket chunk.
        this.pending = Buffer.from(data.subarray(used));
      }
    } catch (error) {
      this.fail(error);
    }
  }

  /** Parses whole frames from `data`; returns the bytes used. */
  private parse(data: Buffer): number {
    let at = 0;
    if (this.phase === 'preface') {
      at = this.readPreface(data);
      if (this.phase === 'preface') {
        return at;
      }
    }
    while (data.length - at >= FRAME_HEADER_BYTES && this.phase !== 'closed') {
      const length = data.readUIntBE(at, 3);
      if (length > DEFAULT_FRAME_BYTES) {
        throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes is over SETTINGS_MAX_FRAME_SIZE 16384`);
      }
      if (data.length - at < FRAME_HEADER_BYTES + length) {
        break;
      }
      const type = data.readUInt8(at + 3);
      const flags = data.readUInt8(at + 4);
      const streamId = data.readUInt32BE(at + 5) & WINDOW_MAX;
      const payload = data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
      at += FRAME_HEADER_BYTES + length;
      try {
        this.handleFrame(type, flags, streamId, payload);
      } catch (error) {
        if (error instanceof H2ProtocolError && error.streamId !== 0) {
          this.resetById(error.streamId, error.code);
        } else {
          throw error;
        }
      }
    }
    return at;
  }

  private handleFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.phase === 'settings' && (type !== FrameType.SETTINGS || (flags & ACK) !== 0)) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'the first frame from the peer was not SETTINGS');
    }
    if (this.headerBlock !== undefined && (type !== FrameType.CONTINUATION || streamId !== this.headerBlock.streamId)) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `a header block on stream ${this.headerBlock.streamId} was interrupted by another frame`);
    }
    switch (type) {
      case FrameType.DATA:
        this.handleDataFrame(flags, streamId, payload);
        break;
      case FrameType.HEADERS:
        this.handleHeadersFrame(flags, streamId, payload);
        break;
      case FrameType.CONTINUATION:
        this.handleContinuation(flags, streamId, payload);
        break;
      case FrameType.PRIORITY:
        if (streamId === 0) {
          throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        }
        if (payload.length !== 5) {
          throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'PRIORITY frame is not 5 bytes', streamId);
        }
        break;
      case FrameType.RST_STREAM:
        this.handleRstStream(streamId, payload);
        break;
      case FrameType.SETTINGS:
        this.handleSettings(flags, streamId, payload);
        break;
      case FrameType.PUSH_PROMISE:
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE, which this endpoint does not allow');
      case FrameType.PING:
        this.handlePing(flags, streamId, payload);
        break;
      case FrameType.GOAWAY:
        this.handleGoawayFrame(streamId, payload);
        break;
      case FrameType.WINDOW_UPDATE:
        this.handleWindowUpdate(streamId, payload);
        break;
      default:
        break; // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  private handleDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    }
    // Flow control counts the whole payload, padding included, whatever becomes of the stream.
    this.receiveWindow -= payload.length;
    if (this.receiveWindow < 0) {
      throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, 'the peer sent more DATA than the connection window allows');
    }
    this.creditConnection(payload.length);
    const data = unpad(flags, payload, streamId);
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (!this.streamWasOpened(streamId)) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `DATA on stream ${streamId}, which was never opened`);
      }
      return; // A stream we have closed or reset: the peer may not know yet.
    }
    if (stream.remoteEnded) {
      throw new H2ProtocolError(H2Error.STREAM_CLOSED, `DATA on stream ${streamId} after its END_STREAM`, streamId);
    }
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) {
      throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, `the peer sent more DATA than stream ${streamId}'s window allows`, streamId);
    }
    // Padding is never delivered, so it is credited back now.
    this.creditStream(stream, payload.length - data.length);
    if (data.length > 0) {
      stream.receiveData(data);
    }
    if ((flags & Flag.END_STREAM) !== 0 && !stream.closed) {
      stream.receiveEnd();
    }
  }

  private handleHeadersFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    }
    let fragment = unpad(flags, payload, streamId);
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5) {
        throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'HEADERS with PRIORITY is too short');
      }
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.decodeHeaderBlock(streamId, endStream, fragment);
    } else {
      this.headerBlock = { streamId, endStream, fragments: [Buffer.from(fragment)], bytes: fragment.length };
    }
  }

  private handleContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.headerBlock;
    if (block === undefined) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without HEADERS before it`);
    }
    block.bytes += payload.length;
    if (block.bytes > HEADER_BLOCK_FACTOR * this.options.maxHeaderListBytes + DEFAULT_FRAME_BYTES) {
      throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `header block on stream ${streamId} is over ${block.bytes} bytes`);
    }
    block.fragments.push(Buffer.from(payload));
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.headerBlock = undefined;
      this.decodeHeaderBlock(block.streamId, block.endStream, Buffer.concat(block.fragments, block.bytes));
    }
  }

  private decodeHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    let fields: string[];
    try {
      fields = this.decoder.decode(block);
    } catch (error) {
      if (error instanceof HpackError) {
        throw new H2ProtocolError(H2Error.COMPRESSION_ERROR, `header block on stream ${streamId}: ${error.message}`);
      }
      throw error;
    }
    this.handleHeaderBlock(streamId, endStream, fields, this.decoder.lastBlockTooLarge);
  }

  private handleRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    }
    if (payload.length !== 4) {
      throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM frame is not 4 bytes');
    }
    if (!this.streamWasOpened(streamId)) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `RST_STREAM on stream ${streamId}, which was never opened`);
    }
    const stream = this.streams.get(streamId);
    if (stream !== undefined) {
      stream.rstCode = payload.readUInt32BE(0);
      this.streams.delete(streamId);
      this.blocked.delete(stream);
      stream.markClosed(true);
      this.maybeEnd();
    }
  }

  private handleSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    }
    if ((flags & ACK) !== 0) {
      if (payload.length !== 0) {
        throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      }
      return;
    }
    this.phase = 'frames';
    const windowDelta = applySettings(this.peerSettings, payload);
    this.encoder.setMaxTableBytes(this.peerSettings.headerTableBytes);
    if (windowDelta !== 0) {
      for (const stream of this.streams.values()) {
        stream.sendWindow += windowDelta;
        if (stream.sendWindow > WINDOW_MAX) {
          throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE pushes a stream window over 2^31-1');
        }
      }
    }
    this.out.frame(FrameType.SETTINGS, ACK, 0);
    this.checkUnread();
    this.scheduleFlush();
    this.settingsChanged();
    if (windowDelta > 0) {
      this.pumpBlocked();
    }
  }

  /** The peer's settings changed (a client may now open more streams). */
  protected settingsChanged(): void {
    // Nothing by default.
  }

  private handlePing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
    }
    if (payload.length !== 8) {
      throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'PING frame is not 8 bytes');
    }
    if ((flags & ACK) === 0) {
      this.out.frame(FrameType.PING, ACK, 0, payload);
      this.checkUnread();
      this.scheduleFlush();
    }
  }

  private handleGoawayFrame(streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
    }
    if (payload.length < 8) {
      throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY frame is shorter than 8 bytes');
    }
    this.peerGoingAway = true;
    this.handleGoaway(payload.readUInt32BE(0) & WINDOW_MAX, payload.readUInt32BE(4), payload.subarray(8).toString('utf8'));
    this.maybeEnd();
  }

  private handleWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE frame is not 4 bytes');
    }
    const increment = payload.readUInt32BE(0) & WINDOW_MAX;
    if (increment === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE with an increment of 0', streamId);
    }
    if (streamId === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > WINDOW_MAX) {
        throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, 'WINDOW_UPDATE pushes the connection window over 2^31-1');
      }
      this.pumpBlocked();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (!this.streamWasOpened(streamId)) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on stream ${streamId}, which was never opened`);
      }
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > WINDOW_MAX) {
      throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, `WINDOW_UPDATE pushes stream ${streamId}'s window over 2^31-1`, streamId);
    }
    this.pump(stream);
  }

  // ---- flow control ----

  private creditConnection(bytes: number): void {
    this.uncredited += bytes;
    if (this.uncredited >= this.options.connectionWindowBytes / 2) {
      writeWindowUpdate(this.out, 0, this.uncredited);
      this.receiveWindow += this.uncredited;
      this.uncredited = 0;
      this.scheduleFlush();
    }
  }

  private creditStream(stream: H2Stream, bytes: number): void {
    if (bytes <= 0 || stream.remoteEnded) {
      return;
    }
    stream.uncredited += bytes;
    if (stream.uncredited >= this.options.streamWindowBytes / 2) {
      writeWindowUpdate(this.out, stream.id, stream.uncredited);
      stream.receiveWindow += stream.uncredited;
      stream.uncredited = 0;
      this.scheduleFlush();
    }
  }

  private pumpBlocked(): void {
    for (const stream of [...this.blocked]) {
      this.pump(stream);
    }
  }

  // ---- writing and ending ----

  protected scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushConnection, this);
    }
  }

  private onSocketDrain(): void {
    for (const stream of this.streams.values()) {
      if (stream.wantsDrain) {
        stream.maybeEmitDrain();
      }
    }
  }

  /** A peer that sends PINGs or SETTINGS and never reads the answers is cut off. */
  private checkUnread(): void {
    if (this.socket.writableLength + this.out.pendingBytes > UNREAD_BYTES_MAX) {
      throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, 'the peer does not read what it asks for');
    }
  }

  protected resetById(streamId: number, code: H2Error): void {
    const stream = this.streams.get(streamId);
    if (stream !== undefined) {
      stream.close(code);
    } else {
      writeRstStream(this.out, streamId, code);
      this.scheduleFlush();
    }
  }

  /** Ends the socket once a graceful close has no stream left. */
  protected maybeEnd(): void {
    if ((this.goingAway || this.peerGoingAway) && this.streams.size === 0 && this.phase !== 'closed') {
      this.flush();
      this.phase = 'closed';
      this.connectionLost(undefined);
      this.socket.end();
      this.notifyClosed();
    }
  }

  /** A connection error: GOAWAY with its code and reason, then the connection closes. */
  protected fail(error: unknown): void {
    const code = error instanceof H2ProtocolError ? error.code : H2Error.INTERNAL_ERROR;
    const reason = error instanceof Error ? error.message : String(error);
    writeGoaway(this.out, this.lastPeerStreamId(), code, reason);
    this.flush();
    this.socket.end();
    this.destroy(error instanceof Error ? error : new Error(reason));
  }

  private notifyClosed(): void {
    const listeners = this.closeListeners.splice(0);
    for (const listener of listeners) {
      listener();
    }
  }
}

function flushConnection(connection: H2Connection): void {
  connection.flush();
}
