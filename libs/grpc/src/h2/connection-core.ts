/**
 * The state and sending half of an HTTP/2 connection (see `./connection` for the whole and
 * the reading half): settings, streams, send-side flow control (`pump` frames queued DATA as
 * far as the stream's and the connection's windows allow), the FrameWriter flushed once per
 * event-loop turn, and the connection's end (graceful GOAWAY, destroy, connection errors).
 *
 *     stream.write / end ─► queue ─► pump ─(both windows allow)─► DATA ─┐
 *     respond / sendTrailers ─► HEADERS(+CONTINUATION) ───────────────────┼─► FrameWriter ─(next tick)─► socket
 *     WINDOW_UPDATE in ─► pump the blocked streams ─────────────────────────┘
 *
 * Errors follow RFC 9113 §5.4: a connection error sends GOAWAY with the code and a reason and
 * closes the connection; every open stream then ends aborted.
 */
import type { Socket } from 'node:net';
import {
  DEFAULT_WINDOW,
  defaultSettings,
  Flag,
  FrameType,
  FrameWriter,
  H2Error,
  H2ProtocolError,
  type H2Settings,
  type Setting,
  writeGoaway,
  writeHeaderBlock,
  writeRstStream,
  writeSettings,
} from './frame';
import { DEFAULT_CONNECTION_SEND_BUFFER_BYTES, DEFAULT_QUEUED_CONTROL_FRAMES_MAX, type H2ConnectionOptions } from './connection-options';
import { HpackEncoder } from './hpack';
import { ReceiveCredit } from './receive-credit';
import type { H2Stream, StreamHost } from './stream';

/** Unsent socket bytes above which streams are asked to wait. */
const CONGESTED_BYTES = 1 << 20;
export const ACK = Flag.END_STREAM;

/** Where the connection is: reading the client preface (servers), waiting for the peer's first SETTINGS, running, closed. */
export type Phase = 'preface' | 'settings' | 'frames' | 'closed';

export abstract class H2ConnectionCore implements StreamHost {
  readonly remoteAddress: string;
  protected readonly out = new FrameWriter();
  protected readonly peerSettings: H2Settings = defaultSettings();
  protected readonly streams = new Map<number, H2Stream>();
  protected phase: Phase;
  /** Set when a GOAWAY was sent (no new streams from the peer) or received (none to the peer). */
  protected goingAway = false;
  protected peerGoingAway = false;
  protected readonly encoder = new HpackEncoder();
  /** Streams with DATA queued and no window left to send it. */
  protected readonly blocked = new Set<H2Stream>();
  protected readonly credit: ReceiveCredit;
  protected sendWindow = DEFAULT_WINDOW;
  /** The connection's clock, ms: advanced by `tick` only (no clock is read on the hot path). */
  protected clockMs = 0;
  /** Σ queuedBytes of the open streams: response bytes not yet framed (flow control holds them). */
  protected queuedSendBytes = 0;
  /** Socket chunks read so far, and stream frames (HEADERS, DATA) read or sent: compared between ticks to see progress. */
  protected reads = 0;
  protected progress = 0;
  /** PINGs from the peer close together with no response data sent since (see the server's keepalive policy). */
  protected pingStrikes = 0;
  /** When we ended the socket after GOAWAY (connection clock), waiting for the peer to close. */
  private socketEndedAtMs: number | undefined;
  /** Our control-frame replies (PING and SETTINGS acks, RST_STREAM) written while the socket had a backlog. */
  private controlQueued = 0;
  private readonly controlQueuedMax: number;
  private readonly connectionSendBufferBytes: number;
  /** We stopped reading from the peer because it does not read what we send. */
  private readPaused = false;
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
    this.controlQueuedMax = options.maxQueuedControlFrames ?? DEFAULT_QUEUED_CONTROL_FRAMES_MAX;
    this.connectionSendBufferBytes = options.connectionSendBufferBytes ?? DEFAULT_CONNECTION_SEND_BUFFER_BYTES;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.reads += 1;
      this.onData(chunk);
    });
    socket.on('error', (error: Error) => this.destroy(error));
    socket.on('close', () => this.destroy());
    socket.on('drain', () => this.onSocketDrain());
    if (preface !== undefined) {
      this.out.raw(preface);
    }
    writeSettings(this.out, settings);
    // Built here, after SETTINGS, because it writes the WINDOW_UPDATE that grows the connection window.
    this.credit = new ReceiveCredit(this.out, options.connectionWindowBytes, options.streamWindowBytes);
    this.scheduleFlush();
  }

  get congested(): boolean {
    return this.socket.writableLength > CONGESTED_BYTES;
  }

  get isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** True while we do not read from the peer because it does not read what we send. */
  get readingPaused(): boolean {
    return this.readPaused;
  }

  /** Response bytes waiting: queued on streams (flow control) and in the socket (the peer not reading). */
  get sendBacklogBytes(): number {
    return this.queuedSendBytes + this.socket.writableLength;
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

  /** Closes at once: every open stream ends aborted, the socket is destroyed. `error` is why, when something failed. */
  destroy(error?: Error): void {
    this.shutDown(error);
    this.socket.destroy();
  }

  /** Writes what the frames of this turn gathered. */
  flush(): void {
    this.flushScheduled = false;
    if (this.phase === 'closed' || this.out.pendingBytes === 0) {
      return;
    }
    this.out.flush(this.socket);
    const unsent = this.socket.writableLength;
    if (unsent === 0) {
      this.controlQueued = 0;
    } else if (unsent > this.connectionSendBufferBytes && !this.readPaused) {
      // The peer does not read what it asks for: stop reading what it sends until it does.
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /**
   * Advances the connection's clock by `elapsedMs` (the server's sweep calls this) and
   * destroys a socket whose peer has not closed it within the grace period after our GOAWAY.
   */
  tick(elapsedMs: number): void {
    this.clockMs += elapsedMs;
    const grace = this.options.goawayGraceMs;
    if (this.socketEndedAtMs !== undefined && grace !== undefined && this.clockMs - this.socketEndedAtMs >= grace) {
      this.socket.destroy();
    }
  }

  // ---- what the reading half and the roles add ----

  /** Bytes arrived from the socket. */
  protected abstract onData(chunk: Buffer): void;

  /** The last stream the peer opened that we take, as GOAWAY states it. */
  protected abstract lastPeerStreamId(): number;

  /** The connection is going down (before its streams are closed); `error` is why, if it failed. */
  protected connectionLost(error: Error | undefined): void {
    void error;
  }

  // ---- StreamHost ----

  sendHeaders(stream: H2Stream, fields: readonly string[], endStream: boolean): void {
    if (this.phase === 'closed') {
      return;
    }
    if (endStream && stream.queuedBytes > 0) {
      throw new Error(`stream ${stream.id}: END_STREAM before its queued DATA`);
    }
    writeHeaderBlock(this.out, stream.id, this.encoder.encode(fields), endStream, this.peerSettings.maxFrameBytes);
    this.progress += 1;
    this.pingStrikes = 0;
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
      this.queuedSendBytes -= bytes;
      stream.sendWindow -= bytes;
      this.sendWindow -= bytes;
      this.progress += 1;
      this.pingStrikes = 0;
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
    if (this.credit.creditStream(stream, bytes)) {
      this.scheduleFlush();
    }
  }

  released(bytes: number): void {
    if (this.phase !== 'closed' && this.credit.release(bytes)) {
      this.scheduleFlush();
    }
  }

  queueChanged(bytes: number): void {
    this.queuedSendBytes += bytes;
  }

  /** Sends RST_STREAM for `stream`; the stream then closes itself (see `streamClosed`). */
  reset(stream: H2Stream, code: H2Error): void {
    if (this.phase !== 'closed' && stream.id !== 0) {
      this.writeReset(stream.id, code);
    }
  }

  /** Every stream comes here once, however it ended: finished both ways, reset, or the connection ended. */
  streamClosed(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.maybeEnd();
  }

  workEnded(stream: H2Stream): void {
    void stream; // Only servers count work on closed streams.
  }

  // ---- flow control ----

  protected pumpBlocked(): void {
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
    this.controlQueued = 0;
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    for (const stream of this.streams.values()) {
      if (stream.wantsDrain) {
        stream.maybeEmitDrain();
      }
    }
  }

  /**
   * Counts a control frame we write in reply to the peer (PING and SETTINGS acks, RST_STREAM).
   * A peer that makes us queue too many without reading them is cut off (RFC 9113 §10.5).
   */
  protected countControlFrame(): void {
    this.controlQueued += 1;
    if (this.controlQueued > this.controlQueuedMax) {
      throw new H2ProtocolError(H2Error.ENHANCE_YOUR_CALM, `the peer made us queue over ${this.controlQueuedMax} control frames without reading them`);
    }
  }

  /** RST_STREAM for `streamId`, counted as a control frame. */
  protected writeReset(streamId: number, code: H2Error): void {
    writeRstStream(this.out, streamId, code);
    this.scheduleFlush();
    this.countControlFrame();
  }

  protected resetById(streamId: number, code: H2Error): void {
    const stream = this.streams.get(streamId);
    if (stream !== undefined) {
      stream.close(code);
    } else {
      this.writeReset(streamId, code);
    }
  }

  /** Ends the socket once a graceful close has no stream left; a GOAWAY always goes before (RFC 9113 §6.8). */
  protected maybeEnd(): void {
    if ((this.goingAway || this.peerGoingAway) && this.streams.size === 0 && this.phase !== 'closed') {
      if (!this.goingAway) {
        this.goingAway = true;
        writeGoaway(this.out, this.lastPeerStreamId(), H2Error.NO_ERROR, 'the peer is going away');
      }
      this.flush();
      this.shutDown(undefined);
      this.endSocket();
    }
  }

  /** A connection error: GOAWAY with its code and reason, then the connection closes. */
  protected fail(error: unknown): void {
    if (this.phase === 'closed') {
      return;
    }
    const code = error instanceof H2ProtocolError ? error.code : H2Error.INTERNAL_ERROR;
    const reason = error instanceof Error ? error.message : String(error);
    this.options.events?.connectionError?.(code, reason);
    writeGoaway(this.out, this.lastPeerStreamId(), code, reason);
    this.flush();
    this.shutDown(error instanceof Error ? error : new Error(reason));
    if (this.options.goawayGraceMs === undefined) {
      this.socket.end();
      this.socket.destroy();
    } else {
      this.endSocket();
    }
  }

  /** Ends the protocol: no more frames either way; every open stream ends (aborted unless finished). */
  private shutDown(error: Error | undefined): void {
    if (this.phase === 'closed') {
      return;
    }
    this.phase = 'closed';
    this.connectionLost(error);
    for (const stream of [...this.streams.values()]) {
      stream.markClosed(true);
    }
    this.streams.clear();
    this.blocked.clear();
    this.notifyClosed();
  }

  /**
   * Half-closes the socket after our last frame and keeps reading (and dropping) what the peer
   * still sends, so that closing does not reset the connection under our GOAWAY; the socket is
   * destroyed when the peer closes, or by `tick` after the grace period.
   */
  private endSocket(): void {
    this.socketEndedAtMs = this.clockMs;
    this.socket.end();
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
  }

  private notifyClosed(): void {
    const listeners = this.closeListeners.splice(0);
    for (const listener of listeners) {
      listener();
    }
  }
}

function flushConnection(connection: H2ConnectionCore): void {
  connection.flush();
}
