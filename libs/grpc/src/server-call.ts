/**
 * One call on the server, from the request headers to the status trailers.
 *
 *     open ──(handler resolves)──► send response + trailers ──► ended ──(stream closes)──► gone
 *       │                                                     ▲
 *       ├─(handler throws / bad frame / deadline)─► status ───┘
 *       └─(client resets the stream)─► ended, signal aborted with CANCELLED
 *
 * Exactly one status is sent per call: the first of handler result, handler error, framing
 * error, deadline, cancellation or forced shutdown wins and every later one is ignored.
 */
import * as http2 from 'node:http2';
import { encodeFrame, FrameDecoder } from './framing';
import { GrpcStatusError, type StatusMetadata } from './grpc-status.error';
import { encodeGrpcMessage, Metadata } from './metadata';
import type { AnyHandler, MethodDefinition, ServerWritableCall } from './method';
import { MessageQueue } from './message-queue';
import { GrpcStatus } from './status';
import { parseGrpcTimeout } from './timeout';

/** Longest delay a Node timer takes; deadlines further out are not timed. */
const TIMER_MS_MAX = 2 ** 31 - 1;
/**
 * How long a client that is still sending after its call ended may keep the stream open
 * before we reset it. Not at once: a reset sent right behind the status can overtake it.
 */
const RESET_AFTER_STATUS_MS = 1_000;
const { NGHTTP2_NO_ERROR } = http2.constants;

/** A method the server knows; `handler` is undefined when the service declares it but the implementation does not. */
export interface Route {
  readonly path: string;
  readonly method: MethodDefinition;
  readonly handler: AnyHandler | undefined;
}

/** What a call needs from its server. */
export interface CallHost {
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  /** Request messages a streaming call buffers before the stream is paused. */
  readonly requestQueueMessagesMax: number;
  /** Send handler error messages (non-GrpcStatusError) to clients instead of "internal error". */
  readonly exposeInternalErrors: boolean;
  /** Called once per call, when its stream has closed. */
  callClosed(call: ServerCallImpl): void;
  /** Called for handler errors that are not GrpcStatusError (bugs, storage failures). */
  reportError(error: unknown, path: string): void;
}

const RESOLVED = Promise.resolve();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class ServerCallImpl implements ServerWritableCall<unknown> {
  readonly path: string;
  readonly deadline: number | undefined;
  /** False once a status has been decided; nothing is sent after that but the status. */
  private open = true;
  private headersSent = false;
  private responseHeaders: Metadata | undefined;
  private trailers: Metadata | undefined;
  private abortController: AbortController | undefined;
  private abortReason: GrpcStatusError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private metadataCache: Metadata | undefined;
  private readonly decoder: FrameDecoder;
  private readonly timeoutMs: number | undefined;
  private timeoutError: unknown = undefined;
  private pendingTrailers: http2.OutgoingHttpHeaders | undefined;
  /** Unary and server-streaming calls: the request, once decoded. */
  private request: unknown = undefined;
  private requestCount = 0;
  /** Client-streaming and bidi calls. */
  private queue: MessageQueue<unknown> | undefined;

  constructor(
    private readonly host: CallHost,
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly route: Route,
  ) {
    this.path = route.path;
    this.decoder = new FrameDecoder(host.maxReceiveMessageBytes);
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') {
      try {
        this.timeoutMs = parseGrpcTimeout(timeout);
        this.deadline = Date.now() + this.timeoutMs;
      } catch (error) {
        this.timeoutError = error;
      }
    }
  }

  get peer(): string {
    const socket = this.stream.session?.socket;
    return socket === undefined ? 'unknown' : `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  }

  get metadata(): Metadata {
    this.metadataCache ??= Metadata.fromHeaders(this.headers);
    return this.metadataCache;
  }

  get signal(): AbortSignal {
    if (this.abortController === undefined) {
      this.abortController = new AbortController();
      if (this.abortReason !== undefined) {
        this.abortController.abort(this.abortReason);
      }
    }
    return this.abortController.signal;
  }

  setHeader(key: string, value: string | Buffer): void {
    if (this.headersSent) {
      throw new Error(`response headers of ${this.path} are already sent`);
    }
    (this.responseHeaders ??= new Metadata()).add(key, value);
  }

  setTrailer(key: string, value: string | Buffer): void {
    (this.trailers ??= new Metadata()).add(key, value);
  }

  /** Wires the stream up and starts reading the request. */
  start(): void {
    const stream = this.stream;
    stream.on('close', this.onClose);
    stream.on('error', ignoreStreamError);
    stream.on('wantTrailers', this.onWantTrailers);
    if (this.timeoutError !== undefined) {
      this.fail(this.timeoutError);
      return;
    }
    if (this.route.handler === undefined) {
      this.finish(GrpcStatus.UNIMPLEMENTED, `method ${this.path} is not implemented by this server`);
      return;
    }
    if (this.timeoutMs !== undefined && this.timeoutMs <= TIMER_MS_MAX) {
      this.timer = setTimeout(this.onDeadline, this.timeoutMs);
    }
    if (this.route.method.requestStream) {
      this.queue = new MessageQueue<unknown>(
        this.host.requestQueueMessagesMax,
        () => stream.pause(),
        () => stream.resume(),
      );
      stream.on('data', this.onStreamingData);
      stream.on('end', this.onStreamingEnd);
      this.settle((this.route.handler as (requests: AsyncIterable<unknown>, call: ServerCallImpl) => unknown)(this.queue, this));
    } else {
      stream.on('data', this.onUnaryData);
      stream.on('end', this.onUnaryEnd);
    }
  }

  write(message: unknown): Promise<void> {
    if (!this.open) {
      return Promise.reject(this.abortReason ?? new GrpcStatusError(GrpcStatus.CANCELLED, `call ${this.path} has ended`));
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(this.route.method.responseType, message, this.host.maxSendMessageBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    this.sendHeaders();
    if (this.stream.write(frame)) {
      return RESOLVED;
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        if (this.open) {
          resolve();
        } else {
          reject(this.abortReason ?? new GrpcStatusError(GrpcStatus.CANCELLED, `call ${this.path} has ended`));
        }
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
  }

  /** Ends the call with `code` now (forced shutdown); the handler's signal is aborted. */
  cancel(code: GrpcStatus, details: string): void {
    this.finish(code, details);
  }

  private readonly onUnaryData = (chunk: Buffer): void => {
    if (this.open) {
      try {
        this.decoder.push(chunk, this.onUnaryMessage);
      } catch (error) {
        this.fail(error);
      }
    }
  };

  private readonly onUnaryMessage = (payload: Buffer): void => {
    this.requestCount += 1;
    if (this.requestCount > 1) {
      throw new GrpcStatusError(GrpcStatus.INTERNAL, `${this.path} takes one request message; the client sent more`);
    }
    this.request = this.decodeRequest(payload);
  };

  private readonly onUnaryEnd = (): void => {
    if (!this.open) {
      return;
    }
    if (this.decoder.midMessage) {
      this.finish(GrpcStatus.INTERNAL, 'the request ended in the middle of a message');
    } else if (this.requestCount === 0) {
      this.finish(GrpcStatus.INTERNAL, `${this.path} takes one request message; the client sent none`);
    } else {
      this.runUnaryRequestHandler();
    }
  };

  private runUnaryRequestHandler(): void {
    let result: unknown;
    try {
      result = (this.route.handler as (request: unknown, call: ServerCallImpl) => unknown)(this.request, this);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.request = undefined;
    this.settle(result);
  }

  /** Ends the call from what the handler returned (a response, or nothing for streams). */
  private settle(result: unknown): void {
    const finishWith = this.route.method.responseStream ? this.finishOk : this.respond;
    if (isThenable(result)) {
      result.then(finishWith, this.fail);
    } else {
      finishWith(result);
    }
  }

  private readonly onStreamingData = (chunk: Buffer): void => {
    if (this.open) {
      try {
        this.decoder.push(chunk, this.onStreamingMessage);
      } catch (error) {
        this.fail(error);
      }
    }
  };

  private readonly onStreamingMessage = (payload: Buffer): void => {
    (this.queue as MessageQueue<unknown>).push(this.decodeRequest(payload));
  };

  private readonly onStreamingEnd = (): void => {
    if (this.decoder.midMessage) {
      this.finish(GrpcStatus.INTERNAL, 'the request stream ended in the middle of a message');
    } else {
      this.queue?.end();
    }
  };

  private decodeRequest(payload: Buffer): unknown {
    try {
      return this.route.method.requestType.decode(payload);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `request is not a valid ${this.route.method.name} request message: ${reason}`);
    }
  }

  /** Sends a unary response and the OK status. */
  private readonly respond = (response: unknown): void => {
    if (!this.open) {
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame(this.route.method.responseType, response, this.host.maxSendMessageBytes);
    } catch (error) {
      this.fail(error);
      return;
    }
    this.open = false;
    this.clearTimer();
    this.sendHeaders();
    this.pendingTrailers = this.statusTrailers(GrpcStatus.OK, '', undefined);
    this.stream.end(frame);
  };

  private readonly finishOk = (): void => {
    this.finish(GrpcStatus.OK, '');
  };

  private readonly fail = (error: unknown): void => {
    if (!this.open) {
      return;
    }
    if (error instanceof GrpcStatusError) {
      this.finish(error.code, error.details, error.metadata);
      return;
    }
    this.host.reportError(error, this.path);
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.finish(GrpcStatus.INTERNAL, this.host.exposeInternalErrors ? reason : 'internal error');
  };

  private readonly onDeadline = (): void => {
    this.timer = undefined;
    this.finish(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${this.timeoutMs} ms exceeded`);
  };

  private readonly onClose = (): void => {
    this.clearTimer();
    if (this.open) {
      this.open = false;
      this.abort(new GrpcStatusError(GrpcStatus.CANCELLED, `call ${this.path} was cancelled by the client`));
    }
    this.host.callClosed(this);
  };

  private readonly onWantTrailers = (): void => {
    const trailers = this.pendingTrailers ?? this.statusTrailers(GrpcStatus.INTERNAL, 'no status was decided', undefined);
    this.pendingTrailers = undefined;
    this.stream.sendTrailers(trailers);
  };

  /**
   * Decides the status: trailers-only when nothing was sent yet, else trailers after the
   * messages. Resets the stream when the client is still sending (it will not be read).
   */
  private finish(code: GrpcStatus, details: string, extra?: StatusMetadata): void {
    if (!this.open) {
      return;
    }
    this.open = false;
    this.clearTimer();
    if (code !== GrpcStatus.OK) {
      const error = new GrpcStatusError(code, details);
      this.abort(error);
      this.queue?.fail(error);
    }
    const stream = this.stream;
    if (stream.destroyed || stream.closed) {
      return;
    }
    const trailers = this.statusTrailers(code, details, extra);
    if (this.headersSent) {
      this.pendingTrailers = trailers;
      stream.end();
    } else {
      this.headersSent = true;
      const headers: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', ...trailers };
      stream.respond(this.responseHeaders === undefined ? headers : this.responseHeaders.writeTo(headers), { endStream: true });
    }
    if (!stream.readableEnded) {
      discardRestOfRequest(stream);
    }
  }

  private sendHeaders(): void {
    if (!this.headersSent) {
      this.headersSent = true;
      const headers: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' };
      this.stream.respond(this.responseHeaders === undefined ? headers : this.responseHeaders.writeTo(headers), { waitForTrailers: true });
    }
  }

  private statusTrailers(code: GrpcStatus, details: string, extra: StatusMetadata | undefined): http2.OutgoingHttpHeaders {
    const trailers: http2.OutgoingHttpHeaders = { 'grpc-status': String(code) };
    if (details !== '') {
      trailers['grpc-message'] = encodeGrpcMessage(details);
    }
    this.trailers?.writeTo(trailers);
    if (extra !== undefined && Object.keys(extra).length > 0) {
      Metadata.from(extra).writeTo(trailers);
    }
    return trailers;
  }

  private abort(reason: GrpcStatusError): void {
    if (this.abortReason === undefined) {
      this.abortReason = reason;
      this.abortController?.abort(reason);
    }
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

/**
 * After the status, a client still sending is read and ignored (so flow control does not
 * stall it before it sees the status) and, if it has not stopped after a while, reset.
 */
export function discardRestOfRequest(stream: http2.ServerHttp2Stream): void {
  stream.resume();
  const timer = setTimeout(() => {
    if (!stream.closed && !stream.destroyed) {
      stream.close(NGHTTP2_NO_ERROR);
    }
  }, RESET_AFTER_STATUS_MS).unref();
  stream.once('close', () => clearTimeout(timer));
}

function ignoreStreamError(): void {
  // A stream error always ends in 'close', where the call is settled; the error itself
  // (usually a reset by the peer) carries nothing the call can act on.
}
