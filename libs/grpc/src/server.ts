/**
 * A lean gRPC server on our own HTTP/2 connection (`./h2`; h2c, or TLS with ALPN h2): routes
 * `/package.Service/Method` to handlers, frames messages itself and answers with gRPC
 * statuses in trailers. Optionally the same port answers HTTP/1.1 (`http1`: /metrics,
 * /health...). Sockets, TLS, admission and deadlines are the transport's (server-transport.ts).
 *
 *     TCP ─► H2ServerConnection ─► stream ─► checks (POST, content-type, route, shutdown)
 *                                             │ ok                     │ refused
 *                                             ▼                        ▼
 *                                      ServerCallImpl            trailers-only status
 *                                 (frames ─► decode ─► handler ─► encode ─► trailers)
 *
 * It does what the etcd clients need and no more: no compression (compressed messages are
 * refused with UNIMPLEMENTED), no reflection.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import { outcomeTrailers, REASONS } from '@keyval/outcome';
import { GrpcStatusError } from './grpc-status.error';
import { checkLimits, type ConnectionLimits, DEFAULT_CONNECTION_LIMITS, DEFAULT_H2_SERVER_LIMITS, type H2ServerLimits } from './h2/limits';
import type { Http1Handler } from './http1-connections';
import { type ServerTlsOptions, ServerTransport } from './server-transport';
import type { H2Stream } from './h2/stream';
import { encodeGrpcMessage } from './metadata';
import { type AnyHandler, methodPath, type ServiceDefinition, type ServiceImplementation } from './method';
import { ServerCallImpl } from './server-call';
import type { CallHost, Route } from './server-route';
import type { Tracer } from '@opentelemetry/api';
import type { GrpcServerObserver } from './server-observer';
import { rpcSpanInfo } from './tracing';
import { discardRestOfRequest, RESPOND_END_OPTIONS } from './server-response';
import { GrpcStatus } from './status';

export interface GrpcServerOptions extends Partial<H2ServerLimits>, Partial<ConnectionLimits> {
  /** Largest request message accepted; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB. */
  readonly maxReceiveMessageBytes?: number;
  /** Largest response message sent; larger ones fail RESOURCE_EXHAUSTED. Default 4 MiB. */
  readonly maxSendMessageBytes?: number;
  /** Request messages a streaming call buffers unread before pausing its stream. Default 32. */
  readonly requestQueueMessagesMax?: number;
  /** Send error messages of unexpected handler errors to clients (tests); default false. */
  readonly exposeInternalErrors?: boolean;
  /** Told of handler errors that are not GrpcStatusError. Default: none (they answer INTERNAL). */
  readonly onHandlerError?: (error: unknown, path: string) => void;
  /** Serve over TLS (ALPN h2) instead of cleartext h2c. */
  readonly tls?: ServerTlsOptions;
  /** Hears about every call (metrics): asked once per method in addService. Default: none. */
  readonly observer?: GrpcServerObserver;
  /**
   * Traces every call: a SERVER span whose parent is the request's W3C `traceparent`, with the
   * handler run inside it. Default: none (no tracing code runs).
   */
  readonly tracer?: Tracer;
  /**
   * Serves HTTP/1.1 on the same port (`/metrics`, `/health`...): connections that do not start
   * with the HTTP/2 preface, or that chose "http/1.1" by ALPN over TLS, go to this request
   * listener, under the same deadlines and connection limits (see http1-connections.ts).
   * Without it every connection is taken as HTTP/2 (an HTTP/1.1 client is answered GOAWAY).
   */
  readonly http1?: Http1Handler;
}

const MiB = 1 << 20;
const CALL_DEFAULTS = {
  maxReceiveMessageBytes: 4 * MiB,
  maxSendMessageBytes: 4 * MiB,
  requestQueueMessagesMax: 32,
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
  /** The HTTP/2 limits in force (defaults filled in). */
  readonly limits: H2ServerLimits;
  readonly tracer: Tracer | undefined;
  private readonly onHandlerError: ((error: unknown, path: string) => void) | undefined;
  private readonly observer: GrpcServerObserver | undefined;
  private readonly routes = new Map<string, Route>();
  private readonly calls = new Set<ServerCallImpl>();
  private readonly transport: ServerTransport;
  private state: ServerState = 'new';
  private drained: (() => void) | undefined;
  private readonly shutdownController = new AbortController();

  constructor(options: GrpcServerOptions = {}) {
    const given = stripUndefined(options);
    const calls = { ...CALL_DEFAULTS, ...pick(given, Object.keys(CALL_DEFAULTS) as (keyof typeof CALL_DEFAULTS)[]) };
    for (const [key, value] of Object.entries(calls)) {
      if (!(Number.isInteger(value) && value >= 0)) {
        throw new RangeError(`GrpcServer option ${key} must be a non-negative integer, not ${value}`);
      }
    }
    this.limits = { ...DEFAULT_H2_SERVER_LIMITS, ...pick(given, Object.keys(DEFAULT_H2_SERVER_LIMITS) as (keyof H2ServerLimits)[]) };
    const connectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...pick(given, Object.keys(DEFAULT_CONNECTION_LIMITS) as (keyof ConnectionLimits)[]) };
    checkLimits({ ...this.limits, ...connectionLimits });
    this.maxReceiveMessageBytes = calls.maxReceiveMessageBytes;
    this.maxSendMessageBytes = calls.maxSendMessageBytes;
    this.requestQueueMessagesMax = Math.max(1, calls.requestQueueMessagesMax);
    this.exposeInternalErrors = options.exposeInternalErrors === true;
    this.onHandlerError = options.onHandlerError;
    this.observer = options.observer;
    this.tracer = options.tracer;
    this.transport = new ServerTransport(this.limits, connectionLimits, this.onStream, options.tls, options.http1, options.observer?.limits);
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
    try {
      return await this.transport.listen(port, host);
    } catch (error) {
      this.state = 'closed';
      throw error;
    }
  }

  /** What each open HTTP/2 connection holds: streams, queued and unsent bytes, receive window left (tests, diagnostics). */
  connectionStats(): ReturnType<ServerTransport['connectionStats']> {
    return this.transport.connectionStats();
  }

  /** Connections now, and those refused or evicted at accept so far. */
  get connectionCounts(): { total: number; refused: number; evicted: number } {
    return this.transport.admissionCounts;
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
      const listenerClosed = this.transport.stopAccepting();
      this.transport.closeConnections();
      const graceTimer = new Promise<'timeout'>((resolve) => setTimeout(resolve, graceMs, 'timeout').unref());
      if ((await Promise.race([this.whenDrained(), graceTimer])) === 'timeout') {
        this.forceClose();
      }
      await listenerClosed;
      this.state = 'closed';
    }
  }

  /** Cancels every call with UNAVAILABLE and destroys every connection at once. */
  forceClose(): void {
    for (const call of this.calls) {
      call.cancel(GrpcStatus.UNAVAILABLE, 'the server is shutting down');
    }
    this.transport.destroy();
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
      this.transport.whenEmpty(() => this.checkDrained());
    });
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.calls.size === 0 && this.transport.connectionCount === 0) {
      const resolve = this.drained;
      this.drained = undefined;
      resolve();
    }
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
      details: `request headers are over the limit of ${this.limits.maxHeaderListBytes} bytes`,
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
    if (typeof contentType !== 'string' || !isGrpcContentType(contentType)) {
      return { httpStatus: 415, code: GrpcStatus.INTERNAL, details: `content-type ${String(contentType)} is not application/grpc or application/grpc+<format>` };
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

/** "application/grpc", alone or with a message format after a plus ("application/grpc+proto"), as the gRPC protocol spells it. */
function isGrpcContentType(value: string): boolean {
  return value === 'application/grpc' || (value.length > 17 && value.startsWith('application/grpc+'));
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
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'object')) as Partial<T>;
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) {
    if (from[key] !== undefined) {
      out[key] = from[key];
    }
  }
  return out;
}
