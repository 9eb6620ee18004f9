/**
 * One stream of an H2Connection, with the part of Node's `Http2Stream` surface a gRPC call
 * uses: 'data', 'end', 'drain' and 'close' events, `write`, `end`, `pause`/`resume` and
 * `close(code)`; on a server also 'wantTrailers', `respond` and `sendTrailers`; on a client
 * 'response' and 'trailers' (the header blocks the server sent) and `rstCode`.
 *
 *                   HEADERS                 END_STREAM in             our END_STREAM
 *     (idle) ──────────────────► open ──────────────────► half-closed ─────────────────► closed
 *                                 │  our END_STREAM          (remote)                        ▲
 *                                 └────────────────► half-closed (local) ──END_STREAM in───┘
 *     RST_STREAM either way, or the connection ending, closes it from any state ('close'
 *     is emitted once, on the next tick, as Node does).
 */
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { H2Error } from './frame';

/** What a stream needs of its connection. */
export interface StreamHost {
  readonly remoteAddress: string;
  sendHeaders(stream: H2Stream, fields: readonly string[], endStream: boolean): void;
  /** Ends the stream's side with an empty DATA frame carrying END_STREAM. */
  endWithData(stream: H2Stream): void;
  /** Sends what the stream has queued as far as flow control allows. */
  pump(stream: H2Stream): void;
  /** Credits `bytes` the application consumed back to the peer's stream window. */
  consumed(stream: H2Stream, bytes: number): void;
  /** `bytes` received on a stream are no longer held (the application took them, or they were dropped): the connection window gets them back. */
  released(bytes: number): void;
  /** The stream's queue of unsent DATA grew (or, negative, shrank without being sent) by `bytes`. */
  queueChanged(bytes: number): void;
  reset(stream: H2Stream, code: H2Error): void;
  /** The stream is over (both sides ended, or reset, or the connection ended). */
  streamClosed(stream: H2Stream): void;
  /** The application finished its work on a stream that had already closed (see `beginWork`). */
  workEnded(stream: H2Stream): void;
  /** True while the socket holds more unsent bytes than it should. */
  readonly congested: boolean;
}

export interface RespondOptions {
  readonly endStream?: boolean;
  readonly waitForTrailers?: boolean;
}

/** A stream queues at most this many unsent bytes before `write` asks its writer to wait, unless its connection says otherwise. */
export const STREAM_SEND_BUFFER_BYTES = 64 * 1024;

const frozenFields = new WeakMap<object, string[]>();

/** Headers given as Node takes them, made a flat [name, value, ...] list for HPACK. */
export function flattenHeaders(headers: OutgoingHttpHeaders): string[] {
  const frozen = Object.isFrozen(headers);
  if (frozen) {
    const cached = frozenFields.get(headers);
    if (cached !== undefined) {
      return cached;
    }
  }
  const fields: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) {
      continue;
    }
    fields.push(name, Array.isArray(value) ? value.join(', ') : String(value));
  }
  if (frozen) {
    frozenFields.set(headers, fields);
  }
  return fields;
}

export class H2Stream extends EventEmitter {
  /** Bytes the peer may still send on this stream before we credit more. */
  receiveWindow: number;
  /** Bytes delivered to the application and not yet credited back with WINDOW_UPDATE. */
  uncredited = 0;
  /** Bytes we may still send on this stream (the peer's credit). */
  sendWindow: number;
  /** Outgoing DATA not yet framed, oldest first; `queuedBytes` is their total. */
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  /** end() was called: once the queue is sent, trailers (or an empty END_STREAM DATA) follow. */
  endRequested = false;
  /** The end of the stream has been framed (END_STREAM sent). */
  localEnded = false;
  /** The peer's END_STREAM has been received. */
  remoteEnded = false;
  /** The stream is gone: reset, finished both ways, or its connection ended. */
  closed = false;
  /** The stream ended abnormally (reset, connection lost) rather than both sides finishing. */
  aborted = false;
  readableEnded = false;
  headersSent = false;
  waitForTrailers = false;
  wantsDrain = false;
  /** The RST_STREAM code that ended the stream, sent or received; undefined if none did. */
  rstCode: number | undefined;
  /**
   * Received DATA bytes not yet given back to the connection window: those in the inbox, those
   * the application said it still holds (`appHeldBytes`), and none else. heldBytes >= inboxBytes.
   */
  heldBytes = 0;
  /** Bytes of the last delivered chunks the application keeps (a partial message); it sets this in its 'data' listener. */
  appHeldBytes = 0;
  /** The application works on the stream (a handler runs): it counts against the concurrency limit, even once closed. */
  working = false;
  /** When the stream opened, on the connection's clock (ms). */
  openedAtMs = 0;
  /** The request body must arrive whole within the connection's request-body timeout (false for request streams). */
  bodyTimed = true;
  /** The request's content-length, or -1 when it gave none (RFC 9113 §8.1.1). */
  expectedBodyBytes = -1;
  /** DATA payload received, padding excluded. */
  bodyBytes = 0;
  private paused = false;
  /** Data that arrived while paused, delivered on resume; `inboxBytes` is their total. */
  private inbox: Buffer[] = [];
  private inboxBytes = 0;
  private endPending = false;

  constructor(
    private readonly host: StreamHost,
    /** 0 until a client stream is opened (ids are given in the order streams open). */
    public id: number,
    readonly headers: IncomingHttpHeaders,
    receiveWindow: number,
    sendWindow: number,
    /** Unsent bytes above which `write` asks the writer to wait. */
    private readonly sendBufferBytes = STREAM_SEND_BUFFER_BYTES,
  ) {
    super();
    this.receiveWindow = receiveWindow;
    this.sendWindow = sendWindow;
  }

  /** The application starts working on the stream: until `endWork`, it counts against the concurrency limit even after it closes. */
  beginWork(): void {
    this.working = true;
  }

  /** The application's work is over (its handler settled). */
  endWork(): void {
    if (this.working) {
      this.working = false;
      if (this.closed) {
        this.host.workEnded(this);
      }
    }
  }

  get destroyed(): boolean {
    return this.closed;
  }

  get remoteAddress(): string {
    return this.host.remoteAddress;
  }

  /** Sends the response headers; `endStream` makes it a headers-only (trailers-only) answer. */
  respond(headers: OutgoingHttpHeaders, options: RespondOptions = {}): void {
    if (this.headersSent) {
      throw new Error(`stream ${this.id}: response headers were already sent`);
    }
    if (this.closed) {
      return;
    }
    this.headersSent = true;
    this.waitForTrailers = options.waitForTrailers === true;
    const endStream = options.endStream === true;
    if (endStream) {
      this.endRequested = true;
      this.localEnded = true;
    }
    this.host.sendHeaders(this, flattenHeaders(headers), endStream);
    if (endStream) {
      this.maybeClose();
    }
  }

  /** Queues `chunk` as DATA; false asks the writer to wait for 'drain'. */
  write(chunk: Buffer): boolean {
    if (this.closed || this.endRequested) {
      return false;
    }
    if (chunk.length > 0) {
      this.enqueue(chunk);
      this.host.pump(this);
    }
    const ok = this.queuedBytes < this.sendBufferBytes && !this.host.congested;
    if (!ok) {
      this.wantsDrain = true;
    }
    return ok;
  }

  /** Queues a last `chunk`, then ends our side: trailers if waitForTrailers, else END_STREAM. */
  end(chunk?: Buffer): void {
    if (this.closed || this.endRequested) {
      return;
    }
    // The end is requested before the last chunk is framed, so that chunk can carry END_STREAM.
    this.endRequested = true;
    if (chunk !== undefined && chunk.length > 0) {
      this.enqueue(chunk);
    }
    this.host.pump(this);
  }

  sendTrailers(headers: OutgoingHttpHeaders): void {
    if (this.closed || this.localEnded) {
      return;
    }
    this.localEnded = true;
    this.host.sendHeaders(this, flattenHeaders(headers), true);
    this.maybeClose();
  }

  /** Resets the stream with `code` (RST_STREAM). */
  close(code: H2Error = H2Error.NO_ERROR): void {
    if (!this.closed) {
      this.rstCode = code;
      this.host.reset(this, code);
      this.markClosed(true);
    }
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) {
      return;
    }
    this.paused = false;
    const inbox = this.inbox;
    this.inbox = [];
    for (const chunk of inbox) {
      if (this.closed) {
        return;
      }
      this.inboxBytes -= chunk.length;
      this.deliver(chunk);
    }
    if (this.endPending && !this.paused) {
      this.endPending = false;
      this.emitEnd();
    }
  }

  // ---- called by the connection ----

  /** DATA arrived (its flow-control cost already counted against the windows). */
  receiveData(chunk: Buffer): void {
    this.heldBytes += chunk.length;
    if (this.paused) {
      this.inbox.push(chunk);
      this.inboxBytes += chunk.length;
    } else {
      this.deliver(chunk);
    }
  }

  /** The peer's END_STREAM arrived. */
  receiveEnd(): void {
    this.remoteEnded = true;
    if (this.paused && this.inbox.length > 0) {
      this.endPending = true;
    } else {
      this.emitEnd();
    }
  }

  /** Called when the queue has been framed and the end of the stream is due. */
  finishSending(): void {
    if (this.localEnded) {
      return;
    }
    if (this.waitForTrailers) {
      this.emit('wantTrailers');
      if (!this.localEnded && !this.closed) {
        this.sendTrailers({});
      }
    } else {
      this.localEnded = true;
      this.host.endWithData(this);
      this.maybeClose();
    }
  }

  /** The queue drained below the mark after a write returned false. */
  maybeEmitDrain(): void {
    if (this.wantsDrain && this.queuedBytes < this.sendBufferBytes && !this.host.congested && !this.closed) {
      this.wantsDrain = false;
      this.emit('drain');
    }
  }

  /** The stream is over; 'close' follows on the next tick. */
  markClosed(aborted: boolean): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.aborted = aborted && !(this.localEnded && this.remoteEnded);
    if (this.queuedBytes > 0) {
      this.host.queueChanged(-this.queuedBytes);
    }
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.inbox = [];
    this.inboxBytes = 0;
    if (this.heldBytes > 0) {
      this.host.released(this.heldBytes);
    }
    this.heldBytes = 0;
    this.appHeldBytes = 0;
    this.host.streamClosed(this);
    process.nextTick(emitClose, this);
  }

  /** Closes the stream once both sides have ended. */
  maybeClose(): void {
    if (this.localEnded && this.remoteEnded && !this.closed) {
      this.markClosed(false);
    }
  }

  private enqueue(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.host.queueChanged(chunk.length);
  }

  /**
   * Hands `chunk` to the application: its stream window is credited at once (so a message
   * larger than the window can arrive), the connection window once the application no longer
   * holds the bytes (`appHeldBytes`, set by the 'data' listener).
   */
  private deliver(chunk: Buffer): void {
    this.host.consumed(this, chunk.length);
    this.emit('data', chunk);
    const free = this.heldBytes - this.inboxBytes - this.appHeldBytes;
    if (free > 0 && !this.closed) {
      this.heldBytes -= free;
      this.host.released(free);
    }
  }

  private emitEnd(): void {
    if (this.closed && this.aborted) {
      return;
    }
    this.readableEnded = true;
    this.emit('end');
    this.maybeClose();
  }
}

function emitClose(stream: H2Stream): void {
  stream.emit('close');
}
