/**
 * One call from the client side: request headers and the request message out (or, for a
 * request stream, messages sent one by one until `closeSend`), response messages and the
 * status back.
 *
 *     start ─► HEADERS + DATA(request, END_STREAM) ─► response headers ─► DATA… ─► trailers ─► close
 *     startStream ─► HEADERS ─► send: DATA… ─► closeSend: END_STREAM
 *        │                                              (trailers-only: status right here)    │
 *        └── deadline / abort signal ─► RST_STREAM(CANCEL), DEADLINE_EXCEEDED / CANCELLED ────┤
 *                                                                              status decided ┘
 *
 * The status is decided once, on the first of: the stream closing (with the status received
 * in headers or trailers, or derived from the HTTP status or the reset code), the deadline,
 * the abort signal, or a local error (oversized or malformed response).
 */
import type * as http2 from 'node:http2';
import type { H2ClientConnection } from './h2/client-connection';
import { H2Error } from './h2/frame';
import type { H2Stream } from './h2/stream';
import { encodeFrame, FrameDecoder, type MessageCodec } from './framing';
import { GrpcStatusError } from './grpc-status.error';
import { decodeGrpcMessage, Metadata } from './metadata';
import { GrpcStatus, parseStatusCode } from './status';
import { formatGrpcTimeout } from './timeout';

const TIMER_MS_MAX = 2 ** 31 - 1;
const USER_AGENT = 'keyval-grpc/0.2';

/** Per-call options. */
export interface CallOptions {
  /** Give up after this many milliseconds (sent to the server as `grpc-timeout`). */
  readonly timeoutMs?: number;
  /** Give up at this time (ms since the epoch); the earlier of this and `timeoutMs` wins. */
  readonly deadline?: number;
  /** Request metadata, e.g. a client id and sequence number. */
  readonly metadata?: Metadata | Readonly<Record<string, string | Buffer>>;
  /** Aborting cancels the call (CANCELLED). */
  readonly signal?: AbortSignal;
}

/** What a call needs to know, fixed by its channel and method. */
export interface ClientCallSetup<Req, Res> {
  readonly path: string;
  readonly authority: string;
  readonly requestType: MessageCodec<Req>;
  readonly responseType: MessageCodec<Res>;
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  /** The connection's last error, to explain an UNAVAILABLE. */
  readonly connectError: () => Error | undefined;
  /** True while the call's connection has never been established (nothing of the call left this process). */
  readonly neverConnected: () => boolean;
}

/** Where a call delivers: each response message, then exactly one end (undefined for OK). */
export interface ClientCallSink<Res> {
  readonly responseStream: boolean;
  onMessage(message: Res): void;
  onEnd(error: GrpcStatusError | undefined): void;
}

/** The status for a response without grpc-status, from its HTTP status (gRPC's mapping). */
export function statusFromHttp(httpStatus: number): GrpcStatus {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

function statusFromResetCode(code: number): GrpcStatus {
  switch (code) {
    case H2Error.REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case H2Error.CANCEL:
      return GrpcStatus.CANCELLED;
    case H2Error.ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case H2Error.INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

export class ClientCall<Req, Res> {
  private stream: H2Stream | undefined;
  private connection: H2ClientConnection | undefined;
  private readonly decoder: FrameDecoder;
  private ended = false;
  private timer: NodeJS.Timeout | undefined;
  private signal: AbortSignal | undefined;
  private timeoutMs = 0;
  /** The status received (in headers or trailers); decided on close. */
  private received: GrpcStatusError | 'ok' | undefined;
  private responses = 0;
  private streamError: Error | undefined;
  /** The status the call ended with (undefined: OK or not ended). */
  private endError: GrpcStatusError | undefined;

  constructor(
    private readonly setup: ClientCallSetup<Req, Res>,
    private readonly sink: ClientCallSink<Res>,
    private readonly onDone: () => void,
  ) {
    this.decoder = new FrameDecoder(setup.maxReceiveMessageBytes);
  }

  /** Sends the request. Never throws: every failure reaches `sink.onEnd`. */
  start(connection: H2ClientConnection, request: Req, options: CallOptions): void {
    this.open(connection, request, options);
  }

  /** Opens a call whose requests are sent with `send` and ended with `closeSend`. */
  startStream(connection: H2ClientConnection, options: CallOptions): void {
    this.open(connection, undefined, options);
  }

  /**
   * Sends one request message of a request stream. Resolves when the stream can take more
   * (HTTP/2 flow control); rejects with the call's status once it has ended.
   */
  send(message: Req): Promise<void> {
    const stream = this.stream;
    if (this.ended || stream === undefined || stream.closed || stream.destroyed) {
      return Promise.reject(this.endError ?? new GrpcStatusError(GrpcStatus.CANCELLED, `${this.setup.path}: the call has ended`));
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(this.setup.requestType, message, this.setup.maxSendMessageBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    if (stream.write(frame)) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        if (this.ended) {
          reject(this.endError ?? new GrpcStatusError(GrpcStatus.CANCELLED, `${this.setup.path}: the call has ended`));
        } else {
          resolve();
        }
      };
      stream.on('drain', done);
      stream.on('close', done);
    });
  }

  /** Ends the request stream (the server sees the half-close); responses go on. */
  closeSend(): void {
    const stream = this.stream;
    if (!this.ended && stream !== undefined && !stream.closed && !stream.destroyed) {
      stream.end();
    }
  }

  private open(connection: H2ClientConnection, request: Req | undefined, options: CallOptions): void {
    let frame: Buffer | undefined;
    let headers: string[];
    try {
      frame = request === undefined ? undefined : encodeFrame(this.setup.requestType, request, this.setup.maxSendMessageBytes);
      headers = this.headers(options);
    } catch (error) {
      this.end(
        error instanceof GrpcStatusError ? error : new GrpcStatusError(GrpcStatus.INTERNAL, `cannot send request: ${String(error)}`),
      );
      return;
    }
    if (this.ended) {
      return;
    }
    let stream: H2Stream;
    try {
      stream = connection.request(headers);
    } catch (error) {
      this.end(new GrpcStatusError(GrpcStatus.UNAVAILABLE, `cannot start a call to ${this.setup.authority}: ${String(error)}`));
      return;
    }
    this.stream = stream;
    this.connection = connection;
    stream.on('response', this.onResponse);
    stream.on('data', this.onData);
    stream.on('trailers', this.onTrailers);
    stream.on('error', this.onError);
    stream.on('close', this.onClose);
    if (frame !== undefined) {
      stream.end(frame);
    }
    if (this.timeoutMs > 0 && this.timeoutMs <= TIMER_MS_MAX) {
      this.timer = setTimeout(this.onDeadline, this.timeoutMs);
    }
    if (options.signal !== undefined) {
      this.signal = options.signal;
      this.signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Pauses or resumes reading responses (server-streaming backpressure). */
  pause(): void {
    this.stream?.pause();
  }

  resume(): void {
    this.stream?.resume();
  }

  /** Cancels the call (CANCELLED) unless it has already ended. */
  cancel(details = 'the call was cancelled by the client'): void {
    this.fail(new GrpcStatusError(GrpcStatus.CANCELLED, details));
  }

  /** The request header list, flat: [name, value, …]. */
  private headers(options: CallOptions): string[] {
    const headers = [
      ':method',
      'POST',
      ':scheme',
      'http',
      ':path',
      this.setup.path,
      ':authority',
      this.setup.authority,
      'content-type',
      'application/grpc',
      'te',
      'trailers',
      'user-agent',
      USER_AGENT,
    ];
    const deadline = Math.min(options.deadline ?? Infinity, options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs);
    if (deadline !== Infinity) {
      this.timeoutMs = deadline - Date.now();
      if (!(this.timeoutMs > 0)) {
        this.end(new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, 'the deadline had passed before the call started'));
        return headers;
      }
      headers.push('grpc-timeout', formatGrpcTimeout(this.timeoutMs));
    }
    if (options.signal?.aborted === true) {
      this.end(new GrpcStatusError(GrpcStatus.CANCELLED, 'the call was cancelled before it started'));
      return headers;
    }
    const metadata = options.metadata;
    if (metadata !== undefined) {
      (metadata instanceof Metadata ? metadata : Metadata.from(metadata)).writeToFields(headers);
    }
    return headers;
  }

  private readonly onResponse = (headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void => {
    const httpStatus = headers[':status'] ?? 0;
    const grpcStatus = headers['grpc-status'];
    if (typeof grpcStatus === 'string') {
      this.onTrailers(headers); // trailers-only response
      return;
    }
    if (httpStatus !== 200) {
      this.fail(new GrpcStatusError(statusFromHttp(httpStatus), `HTTP status ${httpStatus} from ${this.setup.authority}`));
      return;
    }
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      this.fail(new GrpcStatusError(GrpcStatus.UNKNOWN, `response content-type ${String(contentType)} is not application/grpc`));
    }
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.ended) {
      return;
    }
    try {
      this.decoder.push(chunk, this);
    } catch (error) {
      this.fail(error instanceof GrpcStatusError ? error : new GrpcStatusError(GrpcStatus.INTERNAL, String(error)));
    }
  };

  /** A response message arrived (FrameSink). */
  onFrame(payload: Buffer): void {
    this.responses += 1;
    if (!this.sink.responseStream && this.responses > 1) {
      throw new GrpcStatusError(GrpcStatus.INTERNAL, `${this.setup.path}: the server sent more than one response message`);
    }
    let message: Res;
    try {
      message = this.setup.responseType.decode(payload);
    } catch (error) {
      throw new GrpcStatusError(GrpcStatus.INTERNAL, `${this.setup.path}: cannot decode the response: ${String(error)}`);
    }
    this.sink.onMessage(message);
  }

  private readonly onTrailers = (trailers: http2.IncomingHttpHeaders): void => {
    const code = parseStatusCode(trailers['grpc-status'] as string | undefined);
    if (code === GrpcStatus.OK) {
      this.received = 'ok';
      return;
    }
    const message = trailers['grpc-message'];
    const details = typeof message === 'string' ? decodeGrpcMessage(message) : '';
    const metadata = Metadata.fromHeaders(trailers);
    const extra: Record<string, string | Buffer> = {};
    for (const key of metadata.keys()) {
      extra[key] = metadata.getAll(key)[0] as string | Buffer;
    }
    this.received = new GrpcStatusError(code, details, { metadata: extra });
  };

  private readonly onError = (error: Error): void => {
    this.streamError = error;
  };

  private readonly onClose = (): void => {
    if (this.ended) {
      return;
    }
    if (this.received instanceof GrpcStatusError) {
      this.end(this.received);
    } else if (this.received === 'ok') {
      if (this.decoder.midMessage) {
        this.end(new GrpcStatusError(GrpcStatus.INTERNAL, `${this.setup.path}: the response ended in the middle of a message`));
      } else if (!this.sink.responseStream && this.responses !== 1) {
        this.end(new GrpcStatusError(GrpcStatus.INTERNAL, `${this.setup.path}: the server sent no response message`));
      } else {
        this.end(undefined);
      }
    } else {
      this.end(this.statusWithoutTrailers());
    }
  };

  /** The status of a stream that closed before any status arrived. */
  private statusWithoutTrailers(): GrpcStatusError {
    const rstCode = this.stream?.rstCode;
    const connectError = this.setup.connectError();
    if (this.connection?.isClosed === true || connectError !== undefined || rstCode === undefined) {
      const cause = (this.streamError as { cause?: unknown } | undefined)?.cause;
      const reason =
        connectError?.message ??
        (cause instanceof Error ? cause.message : undefined) ??
        this.streamError?.message ??
        'the connection closed';
      // A connection that was never established carried nothing: the call was never sent.
      // Once it was, the request may have reached the server before the connection broke.
      const outcome = this.setup.neverConnected() ? 'never-sent' : undefined;
      return new GrpcStatusError(GrpcStatus.UNAVAILABLE, `${this.setup.authority}: ${reason}`, { outcome });
    }
    if (rstCode === H2Error.REFUSED_STREAM) {
      // RFC 9113 §8.7: a stream refused with REFUSED_STREAM was not processed at all.
      return new GrpcStatusError(GrpcStatus.UNAVAILABLE, `${this.setup.authority} refused the call (it may be shutting down)`, { outcome: 'never-sent' });
    }
    return new GrpcStatusError(
      statusFromResetCode(rstCode),
      `the call was reset by ${this.setup.authority} (HTTP/2 code ${rstCode}) without a status`,
    );
  }

  private readonly onDeadline = (): void => {
    this.timer = undefined;
    this.fail(new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${Math.round(this.timeoutMs)} ms exceeded`));
  };

  private readonly onAbort = (): void => {
    this.cancel();
  };

  /** Ends the call locally and resets the stream. */
  private fail(error: GrpcStatusError): void {
    if (this.ended) {
      return;
    }
    this.end(error);
    const stream = this.stream;
    if (stream !== undefined && !stream.closed && !stream.destroyed) {
      stream.close(H2Error.CANCEL);
    }
  }

  private end(error: GrpcStatusError | undefined): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.endError = error;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.signal?.removeEventListener('abort', this.onAbort);
    this.onDone();
    this.sink.onEnd(error);
  }
}
