/**
 * The client role of an HTTP/2 connection: we send the preface, open streams with odd ids in
 * the order their HEADERS go out, respect the server's limit on concurrent streams (streams
 * over it wait, in order), and read the server's header blocks as a response and trailers.
 *
 *     request(fields) ─► under the server's limit? ─yes─► HEADERS(id) ─► stream
 *                              │ no                              ▲
 *                              └──► waiting ──(a stream closes)──┘
 *     server HEADERS ─► first: 'response' (trailers-only when it ends the stream)
 *                       then:  'trailers' (must end the stream)
 *     server GOAWAY(last) ─► streams above `last` end with REFUSED_STREAM (safe to retry)
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { H2Connection, type H2ConnectionOptions } from './connection';
import { CONNECTION_PREFACE, H2Error, H2ProtocolError, Setting, WINDOW_MAX } from './frame';
import type { HeaderBlock } from './header-block-reader';
import { H2Stream } from './stream';

export type H2ClientOptions = H2ConnectionOptions;

/** Streams opened before the server's first SETTINGS tell its limit. */
const INITIAL_STREAM_LIMIT = 100;

export class H2ClientConnection extends H2Connection {
  /** Why the connection failed, when it did (a socket error, a protocol error). */
  lastError: Error | undefined;
  private nextStreamId = 1;
  /** Streams over the server's concurrency limit, with the headers they will open with. */
  private readonly waiting: { stream: H2Stream; fields: readonly string[] }[] = [];
  private readonly goawayListeners: (() => void)[] = [];
  /** Streams whose response headers have arrived (the next header block is trailers). */
  private readonly responded = new WeakSet<H2Stream>();

  constructor(socket: Socket, options: H2ClientOptions) {
    super(
      socket,
      options,
      'settings',
      [
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, options.streamWindowBytes],
        [Setting.MAX_HEADER_LIST_SIZE, options.maxHeaderListBytes],
      ],
      CONNECTION_PREFACE,
    );
  }

  /** True while new streams may be started on this connection. */
  get usable(): boolean {
    return this.phase !== 'closed' && !this.goingAway && !this.peerGoingAway && this.nextStreamId < WINDOW_MAX;
  }

  onGoaway(listener: () => void): void {
    this.goawayListeners.push(listener);
  }

  /**
   * Starts a stream with the request header list `fields` (flat [name, value, …]). Throws when
   * the connection takes no new streams (see `usable`).
   */
  request(fields: readonly string[]): H2Stream {
    if (!this.usable) {
      throw new Error(this.lastError?.message ?? 'the connection is closing');
    }
    const stream = new H2Stream(this, 0, {}, this.options.streamWindowBytes, this.peerSettings.initialWindowBytes, this.options.streamSendBufferBytes);
    if (this.waiting.length > 0 || this.streams.size >= this.streamLimit()) {
      this.waiting.push({ stream, fields });
    } else {
      this.open(stream, fields);
    }
    return stream;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  override streamClosed(stream: H2Stream): void {
    if (stream.id === 0) {
      const at = this.waiting.findIndex((entry) => entry.stream === stream);
      if (at >= 0) {
        this.waiting.splice(at, 1);
      }
    }
    super.streamClosed(stream);
    this.openWaiting();
  }

  protected override settingsChanged(): void {
    this.openWaiting();
  }

  protected streamWasOpened(streamId: number): boolean {
    return streamId % 2 === 1 && streamId < this.nextStreamId;
  }

  protected lastPeerStreamId(): number {
    return 0; // The server opens no streams (push is off).
  }

  protected handleGoaway(lastStreamId: number, code: number, reason: string): void {
    if (code !== H2Error.NO_ERROR) {
      this.lastError = new Error(`the server closed the connection: HTTP/2 error ${code}${reason === '' ? '' : ` (${reason})`}`);
    }
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) {
        stream.rstCode = H2Error.REFUSED_STREAM;
        stream.markClosed(true);
      }
    }
    this.refuseWaiting();
    for (const listener of this.goawayListeners.splice(0)) {
      listener();
    }
  }

  protected override connectionLost(error: Error | undefined): void {
    if (error !== undefined) {
      this.lastError ??= error;
    }
    this.refuseWaiting();
  }

  protected handleHeaderBlock(block: HeaderBlock): void {
    const { streamId, endStream, fields, tooLarge } = block;
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (!this.streamWasOpened(streamId)) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which this client never opened`);
      }
      return; // A stream we have already given up on.
    }
    if (tooLarge) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `the response headers on stream ${streamId} are over the limit of ${this.options.maxHeaderListBytes} bytes`, streamId);
    }
    const headers = responseHeaders(fields);
    if (!this.responded.has(stream)) {
      const status = headers[':status'] as unknown as number;
      if (status >= 100 && status < 200 && !endStream) {
        return; // Informational (1xx): the real response follows.
      }
      this.responded.add(stream);
      stream.emit('response', headers);
    } else if (!endStream) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `trailers on stream ${streamId} do not end it`, streamId);
    } else {
      stream.emit('trailers', headers);
    }
    if (endStream && !stream.closed) {
      stream.receiveEnd();
      // The response is complete: a request still being sent is stopped, without error
      // (RFC 9113 §8.1), rather than left waiting for flow control the server will not give.
      if (!stream.localEnded) {
        stream.close(H2Error.NO_ERROR);
      }
    }
  }

  /**
   * The server's concurrency limit; until its SETTINGS have come, 100 (the least RFC 9113 §6.5.2
   * recommends, as Go's transport assumes), so a burst of calls at connect is not refused.
   */
  private streamLimit(): number {
    return this.phase === 'settings' ? Math.min(INITIAL_STREAM_LIMIT, this.peerSettings.maxConcurrentStreams) : this.peerSettings.maxConcurrentStreams;
  }

  private open(stream: H2Stream, fields: readonly string[]): void {
    stream.id = this.nextStreamId;
    this.nextStreamId += 2;
    stream.sendWindow = this.peerSettings.initialWindowBytes;
    this.streams.set(stream.id, stream);
    this.sendHeaders(stream, fields, false);
    this.pump(stream);
  }

  private openWaiting(): void {
    while (this.waiting.length > 0 && this.usable && this.streams.size < this.streamLimit()) {
      const next = this.waiting.shift() as { stream: H2Stream; fields: readonly string[] };
      if (!next.stream.closed) {
        this.open(next.stream, next.fields);
      }
    }
  }

  private refuseWaiting(): void {
    for (const { stream } of this.waiting.splice(0)) {
      stream.rstCode = H2Error.REFUSED_STREAM;
      stream.markClosed(true);
    }
  }
}

/** A response header list as Node presents it: an object, `:status` a number, repeats joined. */
function responseHeaders(fields: readonly string[]): IncomingHttpHeaders {
  const headers: Record<string, string | number> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name === ':status') {
      headers[name] = Number(value);
      continue;
    }
    const before = headers[name];
    headers[name] = before === undefined ? value : `${String(before)}, ${value}`;
  }
  return headers as IncomingHttpHeaders;
}
