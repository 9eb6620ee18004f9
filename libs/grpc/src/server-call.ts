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
 *
 * This is the server's hot path, so a call allocates little: the stream listeners are shared
 * module functions that find their call through a symbol on the stream (no closures per
 * call: call-stream-events.ts), the AbortController and the metadata are made only when a
 * handler asks for them. Its parts: the method and server it serves (server-route.ts), how
 * its handler's result settles it (handler-invocation.ts), what it sends besides messages
 * (server-response.ts).
 */
import type * as http2 from 'node:http2';
import { context, trace } from '@opentelemetry/api';
import type { Context, Span } from '@opentelemetry/api';
import { attachCall, listenToRequest, type StreamEventSink } from './call-stream-events';
import type { H2Stream } from './h2/stream';
import { encodeFrame, FrameDecoder, type FrameSink } from './framing';
import { GrpcStatusError, type StatusMetadata } from './grpc-status.error';
import { invokeHandler, type HandlerSettlement } from './handler-invocation';
import { Metadata } from './metadata';
import type { ServerWritableCall } from './method';
import { MessageQueue } from './message-queue';
import {
  discardRestOfRequest,
  drainedOrClosed,
  OK_TRAILERS,
  RESPOND_END_OPTIONS,
  RESPOND_OPTIONS,
  RESPONSE_HEADERS,
  statusTrailers,
} from './server-response';
import type { CallHost, Route } from './server-route';
import { GrpcStatus } from './status';
import { parseGrpcTimeout } from './timeout';
import { contextFromHeaders, endRpcSpan, startServerSpan } from './tracing';

const RESOLVED = Promise.resolve();

export class ServerCallImpl implements ServerWritableCall<unknown>, FrameSink, StreamEventSink, HandlerSettlement {
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
  /** Client-streaming and bidi calls: the requests, for the handler to iterate. */
  private queue: MessageQueue<unknown> | undefined;
  /** The handler has been called and has not settled: the stream counts against the limit even if the client resets it. */
  private handlerRunning = false;
  /** When the call started (performance.now()), for the observer; 0 without one. */
  private readonly startedAt: number;
  /** The call's SERVER span, when the server traces and the handler ran. */
  private span: Span | undefined;
  /** The call's span as a context, once the handler runs (with a tracer). */
  traceContext: Context | undefined;

  constructor(
    private readonly host: CallHost,
    private readonly stream: H2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly route: Route,
  ) {
    this.path = route.path;
    this.decoder = new FrameDecoder(host.maxReceiveMessageBytes);
    if (route.observer !== undefined) {
      this.startedAt = performance.now();
      route.observer.started();
    } else {
      this.startedAt = 0;
    }
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
    return this.stream.remoteAddress;
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
    attachCall(stream, this);
    stream.beginWork();
    if (this.timeoutError !== undefined) {
      this.fail(this.timeoutError);
      return;
    }
    const handler = this.route.handler;
    if (handler === undefined) {
      this.finish(GrpcStatus.UNIMPLEMENTED, `method ${this.path} is not implemented by this server`);
      return;
    }
    if (this.timeoutMs !== undefined) {
      this.timer = setTimeout(onCallDeadline, this.timeoutMs, this); // parseGrpcTimeout clamps it to what a timer takes
    }
    listenToRequest(stream);
    if (this.route.method.requestStream) {
      stream.bodyTimed = false; // a request stream lasts as long as the call
      const queue = new MessageQueue<unknown>(
        this.host.requestQueueMessagesMax,
        () => stream.pause(),
        () => stream.resume(),
      );
      this.queue = queue;
      this.run(() => (handler as (requests: AsyncIterable<unknown>, call: ServerCallImpl) => unknown)(queue, this));
    }
  }

  write(message: unknown): Promise<void> {
    if (!this.open || this.streamGone()) {
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
    return drainedOrClosed(this.stream).then(() => (this.open ? undefined : Promise.reject(this.abortReason ?? new GrpcStatusError(GrpcStatus.CANCELLED, `call ${this.path} has ended`))));
  }

  /** Ends the call with `code` now (forced shutdown); the handler's signal is aborted. */
  cancel(code: GrpcStatus, details: string): void {
    this.finish(code, details);
  }

  /** Bytes of request arrived. */
  handleData(chunk: Buffer): void {
    if (this.open) {
      try {
        this.decoder.push(chunk, this);
        // Bytes of a message still incomplete stay held: the connection window gets them back once it is.
        this.stream.appHeldBytes = this.decoder.bufferedBytes;
        return;
      } catch (error) {
        this.fail(error);
      }
    }
    this.stream.appHeldBytes = 0;
  }

  /** A request message is complete (FrameSink). Throws GrpcStatusError to fail the call. */
  onFrame(payload: Buffer): void {
    const request = this.decodeRequest(payload);
    if (this.queue !== undefined) {
      this.queue.push(request);
      return;
    }
    this.requestCount += 1;
    if (this.requestCount > 1) {
      throw new GrpcStatusError(GrpcStatus.INTERNAL, `${this.path} takes one request message; the client sent more`);
    }
    this.request = request;
  }

  /** The client half-closed: a unary-request call now runs its handler. */
  handleEnd(): void {
    if (!this.open) {
      return;
    }
    if (this.stream.aborted || this.stream.destroyed) {
      // Node ends the readable side of a stream it tears down too: that is no half-close.
      this.handleCloseOnce();
    } else if (this.decoder.midMessage) {
      this.finish(GrpcStatus.INTERNAL, 'the request ended in the middle of a message');
    } else if (this.queue !== undefined) {
      this.queue.end();
    } else if (this.requestCount === 0) {
      this.finish(GrpcStatus.INTERNAL, `${this.path} takes one request message; the client sent none`);
    } else {
      const request = this.request;
      this.request = undefined;
      this.run(() => (this.route.handler as (request: unknown, call: ServerCallImpl) => unknown)(request, this));
    }
  }

  handleDeadline(): void {
    this.timer = undefined;
    this.finish(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${this.timeoutMs} ms exceeded`);
  }

  handleClose(): void {
    this.handleCloseOnce();
    if (!this.handlerRunning) {
      this.stream.endWork();
    }
    this.host.callClosed(this);
  }

  private handleCloseOnce(): void {
    this.clearTimer();
    if (this.open) {
      this.open = false;
      this.settled(GrpcStatus.CANCELLED, 'cancelled by the client');
      this.abort(new GrpcStatusError(GrpcStatus.CANCELLED, `call ${this.path} was cancelled by the client`));
      this.queue?.fail(this.abortReason);
    }
  }

  handleWantTrailers(): void {
    const trailers = this.pendingTrailers ?? statusTrailers(GrpcStatus.INTERNAL, 'no status was decided', this.trailers, undefined);
    this.pendingTrailers = undefined;
    if (!this.stream.destroyed) {
      this.stream.sendTrailers(trailers);
    }
  }

  /**
   * True when the client reset the stream and Node has not yet emitted 'close': the call
   * counts as cancelled now (nothing can be sent on a destroyed stream).
   */
  private streamGone(): boolean {
    if (!this.stream.destroyed && !this.stream.closed) {
      return false;
    }
    this.handleCloseOnce();
    return true;
  }

  /** Runs the handler and ends the call from its outcome: a response, or nothing for streams. */
  private run(invoke: () => unknown): void {
    const tracer = this.host.tracer;
    if (tracer === undefined) {
      this.runHandler(invoke);
      return;
    }
    const parent = contextFromHeaders(this.headers);
    const span = startServerSpan(tracer, this.route.spanName, this.route.spanAttributes, parent);
    this.span = span;
    const callContext = trace.setSpan(parent, span);
    this.traceContext = callContext;
    if (this.route.traceContext === 'explicit') {
      this.runHandler(invoke);
      return;
    }
    context.with(callContext, () => this.runHandler(invoke));
  }

  private runHandler(invoke: () => unknown): void {
    this.handlerRunning = true;
    invokeHandler(invoke, this);
  }

  /** HandlerSettlement: the handler answered (a response, or the end of a stream). */
  handlerSucceeded(result: unknown): void {
    this.handlerSettled();
    this.succeed(result);
  }

  /** HandlerSettlement: the handler threw or its promise rejected. */
  handlerFailed(error: unknown): void {
    this.handlerSettled();
    this.fail(error);
  }

  /** HandlerSettlement: settling an asynchronous answer threw (a bug). */
  settlementFailed(bug: unknown): void {
    this.host.reportError(bug, this.path);
  }

  private handlerSettled(): void {
    this.handlerRunning = false;
    this.stream.endWork();
  }

  private succeed(result: unknown): void {
    if (this.route.method.responseStream) {
      this.finish(GrpcStatus.OK, '');
    } else {
      this.respond(result);
    }
  }

  private decodeRequest(payload: Buffer): unknown {
    try {
      return this.route.method.requestType.decode(payload);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `request is not a valid ${this.route.method.name} request message: ${reason}`);
    }
  }

  /** Sends a single response and the OK status. */
  private respond(response: unknown): void {
    if (!this.open || this.streamGone()) {
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
    this.settled(GrpcStatus.OK, '');
    this.clearTimer();
    this.sendHeaders();
    this.pendingTrailers = this.trailers === undefined ? OK_TRAILERS : statusTrailers(GrpcStatus.OK, '', this.trailers, undefined);
    this.stream.end(frame);
  }

  private fail(error: unknown): void {
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
  }

  /**
   * Decides the status: trailers-only when nothing was sent yet, else trailers after the
   * messages. A client still sending is then ignored, and reset if it goes on.
   */
  private finish(code: GrpcStatus, details: string, extra?: StatusMetadata): void {
    if (!this.open) {
      return;
    }
    this.open = false;
    this.settled(code, details);
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
    const trailers = statusTrailers(code, details, this.trailers, extra);
    if (this.headersSent) {
      this.pendingTrailers = trailers;
      stream.end();
    } else {
      this.headersSent = true;
      const headers: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', ...trailers };
      stream.respond(this.responseHeaders === undefined ? headers : this.responseHeaders.writeTo(headers), RESPOND_END_OPTIONS);
    }
    if (!stream.readableEnded) {
      discardRestOfRequest(stream);
    }
  }

  /** The status is decided (every path that sets `open` to false calls this once). */
  private settled(code: GrpcStatus, details: string): void {
    const observer = this.route.observer;
    if (observer !== undefined) {
      observer.handled(code, performance.now() - this.startedAt);
    }
    if (this.span !== undefined) {
      endRpcSpan(this.span, code, details);
      this.span = undefined;
    }
  }

  private sendHeaders(): void {
    if (!this.headersSent) {
      this.headersSent = true;
      const headers = this.responseHeaders === undefined ? RESPONSE_HEADERS : this.responseHeaders.writeTo({ ...RESPONSE_HEADERS });
      this.stream.respond(headers, RESPOND_OPTIONS);
    }
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

/** The deadline timer's callback (a module function: no closure per call). */
function onCallDeadline(call: ServerCallImpl): void {
  call.handleDeadline();
}
