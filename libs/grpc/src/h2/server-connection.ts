/**
 * The server role of an HTTP/2 connection: the client's preface, streams the client opens
 * with HEADERS (odd ids, increasing), the request's header list checked (`./request-headers`)
 * and handed over as Node presents it, and the limits of `./limits` that bound what one client
 * can make the server hold.
 *
 *     preface ─► SETTINGS ─► HEADERS(id) ─► malformed? ─► RST_STREAM(PROTOCOL_ERROR)
 *                                 │ going away, over the stream limit (handlers still running
 *                                 │ after a reset count), or the send backlog over its limit?
 *                                 │        └─► RST_STREAM(REFUSED_STREAM), spends the reset budget
 *                                 ▼
 *                         new H2Stream ─► onStream(stream, headers, tooLarge)
 *
 *     tick (the server's sweep) ─► handshake, header-block, request-body, idle, no-progress,
 *                                  keepalive and send-stall deadlines; reset budget refilled
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { H2Connection } from './connection';
import type { H2ConnectionOptions } from './connection-options';
import { CONNECTION_PREFACE, FrameType, H2Error, H2ProtocolError, Setting } from './frame';
import type { HeaderBlock } from './header-block-reader';
import type { H2ServerLimits } from './limits';
import { checkTrailers, requestHeaders } from './request-headers';
import { H2Stream } from './stream';

export type H2ServerOptions = H2ServerLimits & Pick<H2ConnectionOptions, 'events'>;

/** What a server connection holds now. */
export interface H2ServerConnectionStats {
  readonly phase: string;
  /** Reading from the peer is paused because it does not read what we send. */
  readonly readPaused: boolean;
  readonly streams: number;
  /** Closed streams whose handler still runs. */
  readonly busyClosed: number;
  /** Response bytes queued on streams (not yet framed). */
  readonly queuedSendBytes: number;
  /** Bytes the socket has not handed to the kernel yet. */
  readonly unsentBytes: number;
  /** Request bytes the peer may still send before we credit the connection window. */
  readonly receiveWindowLeft: number;
  readonly headerBlockPending: boolean;
}

/** A new stream; `headersTooLarge` when its header list was over the limit (headers then empty). */
export type StreamListener = (stream: H2Stream, headers: IncomingHttpHeaders, headersTooLarge: boolean) => void;

/** Payload of the keepalive PINGs we send. */
const KEEPALIVE_PING = Buffer.from('kv-alive', 'latin1');
/** PINGs closer together than the minimum time are tolerated this many times (gRPC's policy). */
const PING_STRIKES_MAX = 2;

export class H2ServerConnection extends H2Connection {
  private lastStreamId = 0;
  /** Closed streams whose handler still runs: they count against maxConcurrentStreams. */
  private busyClosed = 0;
  /** Reset budget left (a token bucket refilled by `tick`). */
  private resetTokens: number;
  private ourSettingsAcknowledged = false;
  private lastPingAtMs = Number.NEGATIVE_INFINITY;
  private keepaliveSentAtMs: number | undefined;
  /** Counters as the last tick saw them, and when they last moved. */
  private seenReads = 0;
  private lastReadAtMs = 0;
  private seenProgress = 0;
  private lastProgressAtMs = 0;
  private idleSinceMs: number | undefined;
  private lastUnsentBytes = 0;
  private unsentSinceMs = 0;
  private readonly workDoneListeners: (() => void)[] = [];

  constructor(
    socket: Socket,
    private readonly limits: H2ServerOptions,
    private readonly onStream: StreamListener,
  ) {
    super(
      socket,
      limits,
      'preface',
      [
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.streamWindowBytes],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
        [Setting.ENABLE_PUSH, 0],
      ],
    );
    this.resetTokens = limits.resetBurst;
  }

  /** Open streams plus closed ones whose handler still runs. */
  get activeStreams(): number {
    return this.streams.size + this.busyClosed;
  }

  /** True before the client's preface and first SETTINGS have arrived. */
  get handshaking(): boolean {
    return this.phase === 'preface' || this.phase === 'settings';
  }

  /** What the connection holds, for tests and the fuzzer's bounds. */
  stats(): H2ServerConnectionStats {
    return {
      phase: this.phase,
      readPaused: this.readingPaused,
      streams: this.streams.size,
      busyClosed: this.busyClosed,
      queuedSendBytes: this.queuedSendBytes,
      unsentBytes: this.socket.writableLength,
      receiveWindowLeft: this.credit.windowLeft,
      headerBlockPending: this.headerBlocks.pendingStreamId !== undefined,
    };
  }

  /** Calls `listener` once the connection has closed and no handler of its streams runs any more. */
  onWorkDone(listener: () => void): void {
    if (this.phase === 'closed' && this.busyClosed === 0) {
      listener();
    } else {
      this.workDoneListeners.push(listener);
    }
  }

  override tick(elapsedMs: number): void {
    super.tick(elapsedMs);
    if (this.phase === 'closed') {
      return;
    }
    const limits = this.limits;
    this.resetTokens = Math.min(limits.resetBurst, this.resetTokens + (limits.resetRatePerSecond * elapsedMs) / 1000);
    try {
      this.checkHandshake();
      this.noteActivity();
      this.checkKeepalive();
      if (this.checkSendStall()) {
        return;
      }
      this.checkIdle();
      this.checkRequestBodies();
    } catch (error) {
      this.fail(error);
    }
  }

  override streamClosed(stream: H2Stream): void {
    if (stream.working) {
      this.busyClosed += 1;
    }
    super.streamClosed(stream);
  }

  override workEnded(stream: H2Stream): void {
    void stream;
    this.busyClosed -= 1;
    this.maybeWorkDone();
  }

  // ---- the role ----

  protected override readPreface(data: Buffer): number {
    const length = CONNECTION_PREFACE.length;
    if (!CONNECTION_PREFACE.subarray(0, Math.min(length, data.length)).equals(data.subarray(0, length))) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, 'the client did not start with the HTTP/2 connection preface');
    }
    if (data.length < length) {
      return 0;
    }
    this.phase = 'settings';
    return length;
  }

  protected streamWasOpened(streamId: number): boolean {
    return streamId <= this.lastStreamId;
  }

  protected lastPeerStreamId(): number {
    return this.lastStreamId;
  }

  protected handleGoaway(): void {
    // The client opens no more streams; those open finish, then the connection ends.
  }

  protected override connectionLost(): void {
    // Streams are closed after this; the work-done listeners run once their handlers end.
    process.nextTick(() => this.maybeWorkDone());
  }

  protected override peerReset(): void {
    this.spendReset();
  }

  protected override settingsAcknowledged(): void {
    this.ourSettingsAcknowledged = true;
  }

  protected override pingReceived(): void {
    const minMs = this.limits.keepaliveMinTimeMs;
    if (minMs > 0 && this.clockMs - this.lastPingAtMs < minMs) {
      this.pingStrikes += 1;
      if (this.pingStrikes > PING_STRIKES_MAX) {
        throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `too_many_pings: more than ${PING_STRIKES_MAX} PINGs within ${minMs} ms of each other with no response data between`);
      }
    }
    this.lastPingAtMs = this.clockMs;
  }

  protected override pingAcknowledged(payload: Buffer): void {
    if (payload.equals(KEEPALIVE_PING)) {
      this.keepaliveSentAtMs = undefined;
    }
  }

  protected handleHeaderBlock(block: HeaderBlock): void {
    const streamId = block.streamId;
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      this.handleTrailers(existing, block);
      return;
    }
    if (streamId % 2 === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which a client cannot open`);
    }
    if (streamId <= this.lastStreamId) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, not above the last stream opened (${this.lastStreamId})`);
    }
    this.lastStreamId = streamId;
    if (block.selfDependent) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `stream ${streamId} cannot depend on itself`, streamId);
    }
    if (this.goingAway) {
      this.writeReset(streamId, H2Error.REFUSED_STREAM);
      return;
    }
    if (this.activeStreams >= this.limits.maxConcurrentStreams || this.sendBacklogBytes > this.limits.connectionSendBufferBytes) {
      this.writeReset(streamId, H2Error.REFUSED_STREAM);
      this.limits.events?.streamRefused?.();
      this.spendReset();
      return;
    }
    const headers = block.tooLarge ? {} : requestHeaders(block.fields, streamId);
    const contentLength = headers['content-length'];
    const expectedBodyBytes = contentLength === undefined ? -1 : Number(contentLength);
    if (block.endStream && expectedBodyBytes > 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `stream ${streamId} ends with its headers against its content-length of ${expectedBodyBytes}`, streamId);
    }
    const stream = new H2Stream(this, streamId, headers, this.limits.streamWindowBytes, this.peerSettings.initialWindowBytes, this.limits.streamSendBufferBytes);
    stream.openedAtMs = this.clockMs;
    stream.expectedBodyBytes = expectedBodyBytes;
    this.streams.set(streamId, stream);
    this.onStream(stream, headers, block.tooLarge);
    if (block.endStream && !stream.closed) {
      stream.receiveEnd();
    }
  }

  /** A second header block on an open stream: the client's trailers, which must end it (RFC 9113 §8.1). */
  private handleTrailers(stream: H2Stream, block: HeaderBlock): void {
    const streamId = stream.id;
    if (stream.remoteEnded) {
      throw new H2ProtocolError(H2Error.STREAM_CLOSED, `HEADERS on stream ${streamId} after its END_STREAM`, streamId);
    }
    if (!block.endStream) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `trailers on stream ${streamId} without END_STREAM`, streamId);
    }
    if (!block.tooLarge) {
      checkTrailers(block.fields, streamId);
    }
    if (stream.expectedBodyBytes >= 0 && stream.bodyBytes !== stream.expectedBodyBytes) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `stream ${streamId} carried ${stream.bodyBytes} bytes against its content-length of ${stream.expectedBodyBytes}`, streamId);
    }
    stream.receiveEnd();
  }

  /** One stream reset by the client, or refused: past the budget, the connection ends. */
  private spendReset(): void {
    this.resetTokens -= 1;
    if (this.resetTokens < 0) {
      throw new H2ProtocolError(
        H2Error.ENHANCE_YOUR_CALM,
        `too many streams reset or refused: over ${this.limits.resetBurst} at once, then ${this.limits.resetRatePerSecond} a second`,
      );
    }
  }

  // ---- deadlines (tick) ----

  private checkHandshake(): void {
    if (this.phase === 'frames' && this.ourSettingsAcknowledged) {
      return;
    }
    const timeoutMs = this.limits.handshakeTimeoutMs;
    if (this.clockMs < timeoutMs) {
      return;
    }
    const what = this.phase === 'preface' ? 'no HTTP/2 connection preface' : this.phase === 'settings' ? 'no SETTINGS' : 'our SETTINGS were not acknowledged';
    throw new H2ProtocolError(H2Error.SETTINGS_TIMEOUT, `${what} within ${timeoutMs} ms`);
  }

  /** Notes when the peer last sent anything, and when a stream last moved either way; checks the header-block deadline. */
  private noteActivity(): void {
    const now = this.clockMs;
    if (this.reads !== this.seenReads) {
      this.seenReads = this.reads;
      this.lastReadAtMs = now;
    }
    if (this.progress !== this.seenProgress) {
      this.seenProgress = this.progress;
      this.lastProgressAtMs = now;
    }
    const timeoutMs = this.limits.requestHeadersTimeoutMs;
    if (this.headerBlocks.pendingStreamId !== undefined && now - this.headerBlockStartedAtMs >= timeoutMs) {
      throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `the header block on stream ${this.headerBlocks.pendingStreamId} was not complete within ${timeoutMs} ms`);
    }
  }

  /** Sends a keepalive PING after a silence; ends a connection whose PING goes unanswered. */
  private checkKeepalive(): void {
    const intervalMs = this.limits.keepaliveIntervalMs;
    if (intervalMs === 0) {
      return;
    }
    const now = this.clockMs;
    if (this.keepaliveSentAtMs !== undefined) {
      if (now - this.keepaliveSentAtMs >= this.limits.keepaliveTimeoutMs) {
        throw new H2ProtocolError(H2Error.NO_ERROR, `keepalive PING not answered within ${this.limits.keepaliveTimeoutMs} ms`);
      }
    } else if (now - this.lastReadAtMs >= intervalMs) {
      this.keepaliveSentAtMs = now;
      this.out.frame(FrameType.PING, 0, 0, KEEPALIVE_PING);
      this.flush();
    }
  }

  /** A peer that has taken none of our bytes for the keepalive timeout is cut off: no GOAWAY could reach it. Returns true then. */
  private checkSendStall(): boolean {
    const unsent = this.socket.writableLength;
    if (unsent === 0 || unsent !== this.lastUnsentBytes) {
      this.lastUnsentBytes = unsent;
      this.unsentSinceMs = this.clockMs;
      return false;
    }
    if (this.clockMs - this.unsentSinceMs < this.limits.keepaliveTimeoutMs) {
      return false;
    }
    this.destroy(new Error(`the peer took none of ${unsent} unsent bytes for ${this.limits.keepaliveTimeoutMs} ms`));
    return true;
  }

  /** Closes a connection idle for the idle timeout, or whose open streams made no progress for as long. */
  private checkIdle(): void {
    const idleMs = this.limits.idleTimeoutMs;
    if (idleMs === 0) {
      return;
    }
    const now = this.clockMs;
    if (this.activeStreams === 0) {
      this.idleSinceMs ??= now;
      if (now - this.idleSinceMs >= idleMs) {
        this.close();
      }
      return;
    }
    this.idleSinceMs = undefined;
    if (this.streams.size > 0 && now - this.lastProgressAtMs >= idleMs) {
      throw new H2ProtocolError(H2Error.NO_ERROR, `no progress on ${this.streams.size} open streams for ${idleMs} ms`);
    }
  }

  /** Resets streams whose request has not arrived whole within the request-body timeout. */
  private checkRequestBodies(): void {
    const timeoutMs = this.limits.requestBodyTimeoutMs;
    if (timeoutMs === 0 || this.streams.size === 0) {
      return;
    }
    for (const stream of this.streams.values()) {
      if (stream.bodyTimed && !stream.remoteEnded && this.clockMs - stream.openedAtMs >= timeoutMs) {
        stream.close(H2Error.CANCEL);
      }
    }
  }

  private maybeWorkDone(): void {
    if (this.phase === 'closed' && this.busyClosed === 0) {
      for (const listener of this.workDoneListeners.splice(0)) {
        listener();
      }
    }
  }
}
