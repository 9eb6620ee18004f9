/**
 * A lean gRPC server on our own HTTP/2 connection (`./h2`, h2c, plaintext): routes
 * `/package.Service/Method` to handlers, frames messages itself and answers with gRPC
 * statuses in trailers.
 *
 *     TCP ─► H2ServerConnection ─► stream ─► checks (POST, content-type, route, shutdown)
 *                                             │ ok                     │ refused
 *                                             ▼                        ▼
 *                                      ServerCallImpl            trailers-only status
 *                                 (frames ─► decode ─► handler ─► encode ─► trailers)
 *
 * It does what the etcd clients need and no more: no compression (compressed messages are
 * refused with UNIMPLEMENTED), no TLS, no reflection.
 */
import * as http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http2';
import * as net from 'node:net';
import { dispatchConnection, FIRST_BYTES_TIMEOUT_MS } from './connection-dispatch';
import { outcomeTrailers, REASONS } from '@keyval/outcome';
import { GrpcStatusError } from './grpc-status.error';
import { H2ServerConnection } from './h2/server-connection';
import type { H2Stream } from './h2/stream';
import { encodeGrpcMessage } from './metadata';
import { type AnyHandler, methodPath, type ServiceDefinition, type ServiceImplementation } from './method';
import { type CallHost, type Route, ServerCallImpl } from './server-call';
import type { Tracer } from '@opentelemetry/api';
import type { GrpcServerObserver } from './server-observer';
import { rpcSpanInfo } from './tracing';
import { discardRestOfRequest, RESPOND_END_OPTIONS } from './server-response';
import { GrpcStatus } from './status';

export interface GrpcServerOptions {
  /** Largest request message accepted; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB. */
  readonly maxReceiveMessageBytes?: number;
  /** Largest response message sent; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB. */
  readonly maxSendMessageBytes?: number;
  /** Concurrent calls per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** Open connections; more are refused at accept. Default 1000. */
  readonly maxConnections?: number;
  /** Request messages a streaming call buffers unread before pausing its stream. Default 32. */
  readonly requestQueueMessagesMax?: number;
  /** Largest header list (metadata) accepted, in bytes. Default 16 KiB. */
  readonly maxHeaderListBytes?: number;
  /** A connection with no call for this long is closed (GOAWAY). Default 5 minutes; 0 never. */
  readonly idleConnectionTimeoutMs?: number;
  /** HTTP/2 receive window per stream and per connection, in bytes. Default 1 MiB / 16 MiB. */
  readonly streamWindowBytes?: number;
  readonly connectionWindowBytes?: number;
  /** Send error messages of unexpected handler errors to clients (tests); default false. */
  readonly exposeInternalErrors?: boolean;
  /** Told of handler errors that are not GrpcStatusError. Default: none (they answer INTERNAL). */
  readonly onHandlerError?: (error: unknown, path: string) => void;
  /** Hears about every call (metrics): asked once per method in addService. Default: none. */
  readonly observer?: GrpcServerObserver;
  /**
   * Traces every call: a SERVER span whose parent is the request's W3C `traceparent`, with the
   * handler run inside it. Default: none (no tracing code runs).
   */
  readonly tracer?: Tracer;
  /**
   * Serves HTTP/1.1 on the same port (`/metrics`, `/health`...): connections that do not start
   * with the HTTP/2 preface go to this request listener (see connection-dispatch.ts). Without
   * it every connection is taken as HTTP/2 (an HTTP/1.1 client is answered GOAWAY).
   */
  readonly http1?: Http1Handler;
  /** A connection that sends too few bytes to tell its protocol within this time is closed, ms. Default 10 s. */
  readonly firstBytesTimeoutMs?: number;
  /**
   * An HTTP/1.1 request must arrive whole (headers and body) within this time of its first
   * byte, or its connection is closed (Node's `headersTimeout` and `requestTimeout`), ms.
   * Default 10 s.
   */
  readonly http1RequestTimeoutMs?: number;
}

/** A request listener for the HTTP/1.1 side of the port (as `http.createServer` takes). */
export type Http1Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

/**
 * Limits of the HTTP/1.1 side: it answers small GETs, so requests are small and quick. The
 * connection limit (`maxConnections`) counts both protocols.
 */
const HTTP1_LIMITS = {
  maxHeaderSize: 16 * 1024,
  keepAliveTimeout: 5_000,
  maxRequestsPerSocket: 1_000,
} as const;

const MiB = 1 << 20;
const DEFAULTS = {
  maxReceiveMessageBytes: 4 * MiB,
  maxSendMessageBytes: 4 * MiB,
  maxConcurrentStreams: 1000,
  maxConnections: 1000,
  requestQueueMessagesMax: 32,
  maxHeaderListBytes: 16 * 1024,
  idleConnectionTimeoutMs: 300_000,
  streamWindowBytes: MiB,
  connectionWindowBytes: 16 * MiB,
  exposeInternalErrors: false,
  firstBytesTimeoutMs: FIRST_BYTES_TIMEOUT_MS,
  http1RequestTimeoutMs: 10_000,
} as const;

/** The server's life: routes are added while `new`; `listening` until shutdown starts. */
type ServerState = 'new' | 'listening' | 'draining' | 'closed';

/** How a service is served. */
export interface AddServiceOptions {
  /** `active` (default): handlers run inside their call's span as the active context; `explicit`: see ServerCall.traceContext. */
  readonly traceContext?: 'active' | 'explicit';
}

export class GrpcServer implements CallHost {
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  readonly requestQueueMessagesMax: number;
  readonly exposeInternalErrors: boolean;
  private readonly options: Required<Omit<GrpcServerOptions, 'onHandlerError' | 'observer' | 'http1' | 'tracer'>>;
  readonly tracer: Tracer | undefined;
  private readonly onHandlerError: ((error: unknown, path: string) => void) | undefined;
  private readonly observer: GrpcServerObserver | undefined;
  /** The HTTP/1.1 side of the port (never listens itself: the dispatcher hands it sockets). */
  private readonly http1Server: http.Server | undefined;
  /** HTTP/1.1 connections (the drain waits for them) and their responses not yet finished. */
  private readonly http1Sockets = new Set<net.Socket>();
  private readonly http1Responses = new Set<http.ServerResponse>();
  /** Accepted connections whose protocol is not known yet (shutdown closes them). */
  private readonly undecided = new Set<net.Socket>();
  private readonly routes = new Map<string, Route>();
  private readonly connections = new Set<H2ServerConnection>();
  private readonly calls = new Set<ServerCallImpl>();
  private readonly netServer: net.Server;
  private state: ServerState = 'new';
  private drained: (() => void) | undefined;
  private readonly shutdownController = new AbortController();

  constructor(options: GrpcServerOptions = {}) {
    this.options = { ...DEFAULTS, ...stripUndefined(options) };
    for (const [key, value] of Object.entries(this.options)) {
      if (typeof value === 'number' && !(Number.isInteger(value) && value >= 0)) {
        throw new RangeError(`GrpcServer option ${key} must be a non-negative integer, not ${value}`);
      }
    }
    this.maxReceiveMessageBytes = this.options.maxReceiveMessageBytes;
    this.maxSendMessageBytes = this.options.maxSendMessageBytes;
    this.requestQueueMessagesMax = Math.max(1, this.options.requestQueueMessagesMax);
    this.exposeInternalErrors = this.options.exposeInternalErrors;
    this.onHandlerError = options.onHandlerError;
    this.observer = options.observer;
    this.tracer = options.tracer;
    if (options.http1 !== undefined) {
      const timeoutMs = this.options.http1RequestTimeoutMs;
      const handler = options.http1;
      this.http1Server = http.createServer(
        // Node checks the request timeouts every connectionsCheckingInterval.
        { ...HTTP1_LIMITS, headersTimeout: timeoutMs, requestTimeout: timeoutMs, connectionsCheckingInterval: Math.max(100, Math.min(1_000, timeoutMs / 4)) },
        (request, response) => this.serveHttp1(handler, request, response),
      );
      this.http1Server.on('clientError', (_error: Error, socket: net.Socket) => socket.destroy());
      // This server never listens (the dispatcher hands it sockets), but Node tracks its
      // connections, and so enforces the request timeouts and can close idle keep-alive
      // connections, only from its 'listening' event: start that tracking now.
      this.http1Server.emit('listening');
    }
    this.netServer = net.createServer(this.onConnection); // H2Connection turns Nagle's algorithm off
    this.netServer.maxConnections = this.options.maxConnections;
  }

  /** Aborted when shutdown starts: long-lived streaming handlers should wind down on it. */
  get shutdownSignal(): AbortSignal {
    return this.shutdownController.signal;
  }

  /** Calls whose stream has not closed yet. */
  get activeCalls(): number {
    return this.calls.size;
  }

  /**
   * Serves `implementation` for the methods of `service`. Methods without a handler answer
   * UNIMPLEMENTED. With `traceContext: 'explicit'` its handlers get their call's span only as
   * `call.traceContext`, not as OpenTelemetry's active context. Throws when a method path is already routed or the server has started.
   */
  addService<S extends ServiceDefinition>(service: S, implementation: ServiceImplementation<S>, options: AddServiceOptions = {}): this {
    if (this.state !== 'new') {
      throw new Error('services must be added before the server listens');
    }
    const handlers = implementation as Readonly<Record<string, AnyHandler | undefined>>;
    for (const key of Object.keys(handlers)) {
      if (!(key in service.methods)) {
        throw new Error(`${service.fullName} has no method ${key}`);
      }
    }
    for (const [key, method] of Object.entries(service.methods)) {
      const path = methodPath(service, method);
      if (this.routes.has(path)) {
        throw new Error(`method ${path} is already served`);
      }
      const span = rpcSpanInfo(path);
      this.routes.set(path, { path, method, handler: handlers[key], observer: this.observer?.method(service.fullName, method), spanName: span.name, spanAttributes: span.attributes, traceContext: options.traceContext ?? 'active' });
    }
    return this;
  }

  /** Starts listening; resolves with the bound address (port 0 picks a free port). */
  async listen(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
    if (this.state !== 'new') {
      throw new Error(`cannot listen: the server is ${this.state}`);
    }
    this.state = 'listening';
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.state = 'closed';
        reject(error);
      };
      this.netServer.once('error', onError);
      this.netServer.listen(port, host, () => {
        this.netServer.off('error', onError);
        resolve();
      });
    });
    const address = this.netServer.address() as net.AddressInfo;
    return { host: address.address, port: address.port };
  }

  /**
   * Graceful shutdown: stops accepting connections, tells clients to open no new calls
   * (GOAWAY), lets calls in flight finish for up to `graceMs`, then cancels what is left with
   * UNAVAILABLE and closes every connection. Resolves once all are closed. Idempotent.
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    if (this.state === 'new' || this.state === 'closed') {
      this.state = 'closed';
      return;
    }
    if (this.state === 'listening') {
      this.state = 'draining';
      this.shutdownController.abort(new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the server is shutting down'));
      const listenerClosed = new Promise<void>((resolve) => this.netServer.close(() => resolve()));
      for (const connection of this.connections) {
        connection.close();
      }
      for (const socket of this.undecided) {
        socket.destroy();
      }
      this.closeHttp1();
      const graceTimer = new Promise<'timeout'>((resolve) => setTimeout(resolve, graceMs, 'timeout').unref());
      if ((await Promise.race([this.whenDrained(), graceTimer])) === 'timeout') {
        this.forceClose();
      }
      await listenerClosed;
      this.http1Server?.close(); // stops its timeout checks (it never listened)
      this.state = 'closed';
    }
  }

  /** Cancels every call with UNAVAILABLE and destroys every connection at once. */
  forceClose(): void {
    for (const call of this.calls) {
      call.cancel(GrpcStatus.UNAVAILABLE, 'the server is shutting down');
    }
    for (const connection of this.connections) {
      connection.destroy();
    }
    this.http1Server?.closeAllConnections();
    for (const socket of this.http1Sockets) {
      socket.destroy();
    }
    this.netServer.close();
  }

  callClosed(call: ServerCallImpl): void {
    this.calls.delete(call);
    this.checkDrained();
  }

  reportError(error: unknown, path: string): void {
    this.onHandlerError?.(error, path);
  }

  private whenDrained(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.calls.size === 0 && this.connections.size === 0 && this.http1Sockets.size === 0) {
      const resolve = this.drained;
      this.drained = undefined;
      resolve();
    }
  }

  private readonly onConnection = (socket: net.Socket): void => {
    if (this.state !== 'listening') {
      socket.destroy();
      return;
    }
    if (this.http1Server === undefined) {
      this.acceptHttp2(socket);
      return;
    }
    this.undecided.add(socket);
    socket.once('close', () => this.undecided.delete(socket));
    dispatchConnection(socket, { http2: this.acceptHttp2, http1: this.acceptHttp1 }, { firstBytesTimeoutMs: this.options.firstBytesTimeoutMs });
  };

  /**
   * Serves an accepted connection as HTTP/2 (gRPC). Public so that a listener of another kind
   * (TLS with ALPN "h2") can hand its sockets over; see also `acceptHttp1`.
   */
  readonly acceptHttp2 = (socket: net.Socket): void => {
    this.undecided.delete(socket);
    if (this.state !== 'listening') {
      socket.destroy();
      return;
    }
    const connection = new H2ServerConnection(
      socket,
      {
        maxConcurrentStreams: this.options.maxConcurrentStreams,
        streamWindowBytes: this.options.streamWindowBytes,
        connectionWindowBytes: this.options.connectionWindowBytes,
        maxHeaderListBytes: this.options.maxHeaderListBytes,
        idleTimeoutMs: this.options.idleConnectionTimeoutMs,
      },
      this.onStream,
    );
    this.connections.add(connection);
    connection.onClose(() => {
      this.connections.delete(connection);
      this.checkDrained();
    });
  };

  /** Serves an accepted connection as HTTP/1.1 with the `http1` listener (destroyed without one). */
  readonly acceptHttp1 = (socket: net.Socket): void => {
    this.undecided.delete(socket);
    if (this.http1Server === undefined || this.state !== 'listening') {
      socket.destroy();
      return;
    }
    this.http1Sockets.add(socket);
    socket.once('close', () => {
      this.http1Sockets.delete(socket);
      this.checkDrained();
    });
    this.http1Server.emit('connection', socket);
  };

  /** Runs the HTTP/1.1 handler; while draining, every response closes its connection. */
  private serveHttp1(handler: Http1Handler, request: http.IncomingMessage, response: http.ServerResponse): void {
    this.http1Responses.add(response);
    response.once('close', () => {
      this.http1Responses.delete(response);
      if (this.state !== 'listening') {
        // Its connection is idle now (or closing): let the drain finish.
        setImmediate(() => this.http1Server?.closeIdleConnections());
      }
    });
    if (this.state !== 'listening') {
      response.shouldKeepAlive = false;
    }
    handler(request, response);
  }

  /** Drain of the HTTP/1.1 side: idle keep-alive connections close now, busy ones after their response. */
  private closeHttp1(): void {
    for (const response of this.http1Responses) {
      if (!response.headersSent) {
        response.shouldKeepAlive = false;
      }
    }
    this.http1Server?.closeIdleConnections();
  }

  private readonly onStream = (stream: H2Stream, headers: IncomingHttpHeaders, headersTooLarge: boolean): void => {
    const refusal = headersTooLarge ? this.headersTooLarge() : this.refusal(headers);
    if (refusal !== undefined) {
      refuse(stream, refusal);
      return;
    }
    const call = new ServerCallImpl(this, stream, headers, this.routes.get(headers[':path'] as string) as Route);
    this.calls.add(call);
    call.start();
  };

  private headersTooLarge(): Refusal {
    return {
      httpStatus: 431,
      code: GrpcStatus.RESOURCE_EXHAUSTED,
      details: `request headers are over the limit of ${this.options.maxHeaderListBytes} bytes`,
    };
  }

  /** Why a new stream is not served, or undefined when it is. */
  private refusal(headers: IncomingHttpHeaders): Refusal | undefined {
    if (headers[':method'] !== 'POST') {
      return {
        httpStatus: 405,
        code: GrpcStatus.UNIMPLEMENTED,
        details: `method ${String(headers[':method'])} is not allowed; gRPC uses POST`,
      };
    }
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      return { httpStatus: 415, code: GrpcStatus.INTERNAL, details: `content-type ${String(contentType)} is not application/grpc` };
    }
    if (this.state !== 'listening') {
      return { httpStatus: 200, code: GrpcStatus.UNAVAILABLE, details: 'the server is shutting down', reason: REASONS.serverStopping };
    }
    const path = headers[':path'];
    if (typeof path !== 'string' || !this.routes.has(path)) {
      return { httpStatus: 200, code: GrpcStatus.UNIMPLEMENTED, details: `unknown method ${String(path)}` };
    }
    return undefined;
  }
}

interface Refusal {
  readonly httpStatus: number;
  readonly code: GrpcStatus;
  readonly details: string;
  /** The `keyval-reason` trailer, for refusals other layers act on. */
  readonly reason?: string;
}

/**
 * Answers with a status and nothing else (a trailers-only response), ignoring the request.
 * Nothing of a refused call ran: its answer says so in the `keyval-outcome` trailer.
 */
function refuse(stream: H2Stream, refusal: Refusal): void {
  stream.on('error', ignoreSessionError);
  stream.respond(
    {
      ':status': refusal.httpStatus,
      'content-type': 'application/grpc',
      'grpc-status': String(refusal.code),
      'grpc-message': encodeGrpcMessage(refusal.details),
      ...outcomeTrailers({ outcome: 'not-applied', reason: refusal.reason }),
    },
    RESPOND_END_OPTIONS,
  );
  discardRestOfRequest(stream);
}

function ignoreSessionError(): void {
  // Session and stream errors (peer resets, broken sockets) end in 'close', where they are
  // accounted for; there is no one to report them to.
}

function stripUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => typeof v === 'number' || typeof v === 'boolean')) as Partial<T>;
}
