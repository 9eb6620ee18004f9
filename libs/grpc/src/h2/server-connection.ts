/**
 * The server role of an HTTP/2 connection: the client's preface, streams the client opens
 * with HEADERS (odd ids, increasing), our limit on concurrent streams, and the request's
 * header list checked and handed over as Node presents it.
 *
 *     preface ─► SETTINGS ─► HEADERS(id) ─► over the limit / going away? ─► RST_STREAM(REFUSED_STREAM)
 *                                 │ no
 *                                 ▼
 *                         new H2Stream ─► onStream(stream, headers, tooLarge)
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { H2Connection, type H2ConnectionOptions } from './connection';
import { CONNECTION_PREFACE, H2Error, H2ProtocolError, Setting, writeRstStream } from './frame';
import { H2Stream } from './stream';

export interface H2ServerOptions extends H2ConnectionOptions {
  readonly maxConcurrentStreams: number;
  /** A connection with no stream open for this long is closed (GOAWAY); 0 never. */
  readonly idleTimeoutMs: number;
}

/** A new stream; `headersTooLarge` when its header list was over the limit (headers then empty). */
export type StreamListener = (stream: H2Stream, headers: IncomingHttpHeaders, headersTooLarge: boolean) => void;

const PSEUDO_REQUEST_HEADERS = new Set([':method', ':scheme', ':path', ':authority']);

export class H2ServerConnection extends H2Connection {
  private lastStreamId = 0;

  constructor(
    socket: Socket,
    private readonly serverOptions: H2ServerOptions,
    private readonly onStream: StreamListener,
  ) {
    super(socket, serverOptions, 'preface', [
      [Setting.MAX_CONCURRENT_STREAMS, serverOptions.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, serverOptions.streamWindowBytes],
      [Setting.MAX_HEADER_LIST_SIZE, serverOptions.maxHeaderListBytes],
      [Setting.ENABLE_PUSH, 0],
    ]);
    if (serverOptions.idleTimeoutMs > 0) {
      socket.setTimeout(serverOptions.idleTimeoutMs, () => {
        if (this.streams.size === 0) {
          this.close();
        }
      });
    }
  }

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

  protected handleHeaderBlock(streamId: number, endStream: boolean, fields: string[], tooLarge: boolean): void {
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers from the client: gRPC has no use for them, but they end the request.
      if (!endStream || existing.remoteEnded) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `second HEADERS on stream ${streamId} without END_STREAM`, streamId);
      }
      existing.receiveEnd();
      return;
    }
    if (streamId % 2 === 0) {
      throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which a client cannot open`);
    }
    if (streamId <= this.lastStreamId) {
      throw new H2ProtocolError(H2Error.STREAM_CLOSED, `HEADERS on stream ${streamId}, which is closed`);
    }
    this.lastStreamId = streamId;
    if (this.goingAway || this.streams.size >= this.serverOptions.maxConcurrentStreams) {
      writeRstStream(this.out, streamId, H2Error.REFUSED_STREAM);
      this.scheduleFlush();
      return;
    }
    const headers = tooLarge ? {} : requestHeaders(fields, streamId);
    const stream = new H2Stream(this, streamId, headers, this.options.streamWindowBytes, this.peerSettings.initialWindowBytes);
    this.streams.set(streamId, stream);
    this.onStream(stream, headers, tooLarge);
    if (endStream && !stream.closed) {
      stream.receiveEnd();
    }
  }
}

/**
 * The request's header list as Node presents it: an object; repeated names joined with
 * ", ". Throws a stream error for a malformed request (RFC 9113 §8.3.1).
 */
function requestHeaders(fields: readonly string[], streamId: number): IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  let regularSeen = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name.charCodeAt(0) === 0x3a) {
      if (regularSeen || !PSEUDO_REQUEST_HEADERS.has(name) || name in headers) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `malformed request: pseudo-header ${name} is unknown, repeated or late`, streamId);
      }
    } else {
      regularSeen = true;
      if (!isLowerCase(name)) {
        throw new H2ProtocolError(H2Error.PROTOCOL_ERROR, `malformed request: header ${name} is not lower-case`, streamId);
      }
    }
    const before = headers[name];
    headers[name] = before === undefined ? value : `${before}, ${value}`;
  }
  return headers;
}

/** Header names already checked to be lower-case: the same few names come on every request. */
const lowerCaseNames = new Set<string>();
const LOWER_CASE_NAMES_MAX = 1024;

export function isLowerCase(name: string): boolean {
  if (lowerCaseNames.has(name)) {
    return true;
  }
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      return false;
    }
  }
  if (lowerCaseNames.size < LOWER_CASE_NAMES_MAX) {
    lowerCaseNames.add(name);
  }
  return true;
}
