/**
 * One HTTP/2 connection over cleartext TCP (h2c with prior knowledge, as gRPC uses it), in
 * JavaScript: frames parsed straight from the socket's chunks, HPACK in `./hpack`, flow
 * control both ways, and every frame of one event-loop turn written with one socket write.
 * Node's own `http2` costs about three times as much CPU per unary call, most of it in
 * per-stream objects and calls between C++ and JavaScript.
 *
 *     socket ─► (preface) ─► frames ─┬─ HEADERS(+CONTINUATION) ─► HeaderBlockReader ─► role: handleHeaderBlock
 *                                    ├─ DATA ─► ReceiveCredit ─► stream 'data' / 'end'
 *                                    ├─ RST_STREAM ─► stream closed (aborted)
 *                                    └─ SETTINGS, PING, WINDOW_UPDATE, GOAWAY ─► connection state
 *     streams ─► FrameWriter ─(next tick)─► socket
 *
 * This file is the reading half; `./connection-core` holds the state, the sending half and the
 * connection's end. The roles (H2ServerConnection, H2ClientConnection) add what differs: who opens streams and
 * what a header block means. Errors follow RFC 9113 §5.4: a stream error resets that stream;
 * a connection error sends GOAWAY with the code and a reason and closes the connection.
 */
import type { Socket } from 'node:net';
import { ACK, H2ConnectionCore, type Phase } from './connection-core';
import type { H2ConnectionOptions } from './connection-options';
import {
  applySettings,
  DEFAULT_FRAME_BYTES,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  H2Error,
  H2ProtocolError,
  type Setting,
  unpad,
  WINDOW_MAX,
} from './frame';
import { type HeaderBlock, HeaderBlockReader } from './header-block-reader';
import type { H2Stream } from './stream';

export { ACK, type Phase } from './connection-core';
export type { H2ConnectionOptions } from './connection-options';

/** An HTTP/2 connection: H2ConnectionCore's state and sending, plus reading frames from the socket. */
export abstract class H2Connection extends H2ConnectionCore {
  protected readonly headerBlocks: HeaderBlockReader;
  /** When the pending header block started (connection clock), for the request-headers timeout. */
  protected headerBlockStartedAtMs = 0;
  /** Bytes of the connection preface received so far, while fewer than its length. */
  private prefaceBytes: Buffer | undefined;
  /**
   * A frame whose rest has not arrived yet: 9 bytes while its header is incomplete, then the
   * whole frame's size, filled up to `partialFilled`. Assembled in place, so a frame sent a
   * byte at a time costs no more copying than one sent whole.
   */
  private partial: Buffer | undefined;
  private partialFilled = 0;

  protected constructor(
    socket: Socket,
    options: H2ConnectionOptions,
    firstPhase: Phase,
    settings: readonly (readonly [Setting, number])[],
    preface?: Buffer,
  ) {
    super(socket, options, firstPhase, settings, preface);
    this.headerBlocks = new HeaderBlockReader(options.maxHeaderListBytes, options.maxContinuationFrames);
  }

  // ---- what the roles add ----

  /** A complete header block (see HeaderBlock: `tooLarge` means its fields were left out). */
  protected abstract handleHeaderBlock(block: HeaderBlock): void;
  /** True when `streamId` is one the peer could have used by now (for "never opened" checks). */
  protected abstract streamWasOpened(streamId: number): boolean;
  /** The peer sent GOAWAY: streams above `lastStreamId` it will not process. */
  protected abstract handleGoaway(lastStreamId: number, code: number, reason: string): void;
  /** Bytes at the start of the connection, before frames; returns how many were used (servers read the preface here). */
  protected readPreface(data: Buffer): number {
    void data;
    return 0;
  }
  /** The peer reset `stream`, which was open. */
  protected peerReset(stream: H2Stream): void {
    void stream;
  }
  /** The peer sent a PING (not an ACK), before we answer it. */
  protected pingReceived(): void {
    // Nothing by default.
  }
  /** The peer acknowledged a PING of ours. */
  protected pingAcknowledged(payload: Buffer): void {
    void payload;
  }
  /** The peer acknowledged our SETTINGS. */
  protected settingsAcknowledged(): void {
    // Nothing by default.
  }

  // ---- reading ----

  protected onData(chunk: Buffer): void {
    if (this.phase === 'closed') {
      return;
    }
    try {
      let data = chunk;
      if (this.phase === 'preface') {
        data = this.prefaceBytes === undefined ? chunk : Buffer.concat([this.prefaceBytes, chunk]);
        this.prefaceBytes = undefined;
        const used = this.readPreface(data);
        if (this.phase === 'preface') {
          this.prefaceBytes = Buffer.from(data); // fewer than the preface's 24 bytes
          return;
        }
        data = data.subarray(used);
      }
      if (this.partial !== undefined) {
        const used = this.fillPartial(data);
        if (this.partial !== undefined) {
          return;
        }
        data = data.subarray(used);
      }
      this.parse(data);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Parses whole frames from `data`; the start of a frame left over waits in `partial`. */
  private parse(data: Buffer): void {
    let at = 0;
    while (data.length - at >= FRAME_HEADER_BYTES && this.phase !== 'closed') {
      const length = frameLength(data, at);
      if (data.length - at < FRAME_HEADER_BYTES + length) {
        break;
      }
      this.dispatch(data, at, length);
      at += FRAME_HEADER_BYTES + length;
    }
    if (at < data.length && this.phase !== 'closed') {
      // A copy of its own: a slice would pin the whole socket chunk.
      const rest = data.length - at;
      this.partial = Buffer.allocUnsafe(rest >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + frameLength(data, at) : FRAME_HEADER_BYTES);
      data.copy(this.partial, 0, at);
      this.partialFilled = rest;
    }
  }

  /** Adds `data` to the partial frame; handles the frame once whole. Returns the bytes of `data` used. */
  private fillPartial(data: Buffer): number {
    let partial = this.partial as Buffer;
    let at = 0;
    if (this.partialFilled < FRAME_HEADER_BYTES) {
      at = Math.min(FRAME_HEADER_BYTES - this.partialFilled, data.length);
      data.copy(partial, this.partialFilled, 0, at);
      this.partialFilled += at;
      if (this.partialFilled < FRAME_HEADER_BYTES) {
        return at;
      }
      const whole = Buffer.allocUnsafe(FRAME_HEADER_BYTES + frameLength(partial, 0));
      partial.copy(whole, 0, 0, FRAME_HEADER_BYTES);
      partial = whole;
      this.partial = whole;
    }
    const take = Math.min(partial.length - this.partialFilled, data.length - at);
    data.copy(partial, this.partialFilled, at, at + take);
    this.partialFilled += take;
    at += take;
    if (this.partialFilled === partial.length) {
      this.partial = undefined;
      this.partialFilled = 0;
      this.dispatch(partial, 0, partial.length - FRAME_HEADER_BYTES);
    }
    return at;
  }

  /** Handles the frame at `at` in `data`; a stream error resets that stream, a connection error is thrown. */
  private dispatch(data: Buffer, at: number, length: number): void {
    const type = data[at + 3] as number;
    const flags = data[at + 4] as number;
    const streamId = data.readUInt32BE(at + 5) & WINDOW_MAX;
    const payload = data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
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

  private handleFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.phase === 'settings' && (type !== FrameType.SETTINGS || (flags & ACK) !== 0)) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'the first frame from the peer was not SETTINGS');
    }
    const blockStreamId = this.headerBlocks.pendingStreamId;
    if (blockStreamId !== undefined && (type !== FrameType.CONTINUATION || streamId !== blockStreamId)) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `a header block on stream ${blockStreamId} was interrupted by another frame`);
    }
    switch (type) {
      case FrameType.DATA:
        this.handleDataFrame(flags, streamId, payload);
        break;
      case FrameType.HEADERS:
        this.deliverHeaderBlock(this.headerBlocks.headers(flags, streamId, payload));
        break;
      case FrameType.CONTINUATION:
        this.deliverHeaderBlock(this.headerBlocks.continuation(flags, streamId, payload));
        break;
      case FrameType.PRIORITY:
        handlePriority(streamId, payload);
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
    this.credit.receiveData(payload.length);
    const data = unpad(flags, payload, streamId);
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      this.released(payload.length);
      if (!this.streamWasOpened(streamId)) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `DATA on stream ${streamId}, which was never opened`);
      }
      return; // A stream we have closed or reset: the peer may not know yet.
    }
    if (stream.remoteEnded) {
      this.released(payload.length);
      throw new H2ProtocolError(H2Error.STREAM_CLOSED, `DATA on stream ${streamId} after its END_STREAM`, streamId);
    }
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) {
      this.released(payload.length);
      throw new H2ProtocolError(H2Error.FLOW_CONTROL_ERROR, `the peer sent more DATA than stream ${streamId}'s window allows`, streamId);
    }
    this.progress += 1;
    // Padding is never delivered, so it is credited back now.
    const padding = payload.length - data.length;
    if (padding > 0) {
      this.released(padding);
      this.consumed(stream, padding);
    }
    stream.bodyBytes += data.length;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (stream.expectedBodyBytes >= 0 && (stream.bodyBytes > stream.expectedBodyBytes || (endStream && stream.bodyBytes !== stream.expectedBodyBytes))) {
      this.released(data.length);
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `stream ${streamId} carries ${stream.bodyBytes} bytes or more against its content-length of ${stream.expectedBodyBytes}`, streamId);
    }
    if (data.length > 0) {
      stream.receiveData(data);
    }
    if (endStream && !stream.closed) {
      stream.receiveEnd();
    }
  }

  /** Hands a completed header block to the role; while CONTINUATION frames are still due, notes when the block began. */
  private deliverHeaderBlock(block: HeaderBlock | undefined): void {
    if (block !== undefined) {
      this.progress += 1;
      this.handleHeaderBlock(block);
    } else if (this.headerBlocks.pendingStreamId !== undefined) {
      this.headerBlockStartedAtMs = this.clockMs;
    }
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
      stream.markClosed(true);
      this.peerReset(stream);
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
      this.settingsAcknowledged();
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
    this.countControlFrame();
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
    if ((flags & ACK) !== 0) {
      this.pingAcknowledged(payload);
      return;
    }
    this.pingReceived();
    this.out.frame(FrameType.PING, ACK, 0, payload);
    this.countControlFrame();
    this.scheduleFlush();
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
}

/** The 24-bit length of the frame whose header starts at `at`; over our SETTINGS_MAX_FRAME_SIZE is a connection error. */
function frameLength(data: Buffer, at: number): number {
  const length = ((data[at] as number) << 16) | ((data[at + 1] as number) << 8) | (data[at + 2] as number);
  if (length > DEFAULT_FRAME_BYTES) {
    throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes is over SETTINGS_MAX_FRAME_SIZE 16384`);
  }
  return length;
}

/** PRIORITY carries nothing we act on (RFC 9113 §5.3.2 deprecates the scheme), but is still checked. */
function handlePriority(streamId: number, payload: Buffer): void {
  if (streamId === 0) {
    throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
  }
  if (payload.length !== 5) {
    throw new H2ProtocolError(H2Error.FRAME_SIZE_ERROR, 'PRIORITY frame is not 5 bytes', streamId);
  }
  if ((payload.readUInt32BE(0) & WINDOW_MAX) === streamId) {
    throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `stream ${streamId} cannot depend on itself`, streamId);
  }
}
