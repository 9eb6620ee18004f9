/**
 * Service and method descriptions, and the handler shapes a server implements. A service
 * definition is what ts-proto emits with `outputServices=generic-definitions` (e.g.
 * `etcd.KVDefinition` from @keyval/proto): names plus the message codecs of every method.
 */
import type { MessageCodec } from './framing';
import type { Context } from '@opentelemetry/api';
import type { Metadata } from './metadata';

export interface MethodDefinition<Req = unknown, Res = unknown, ReqStream extends boolean = boolean, ResStream extends boolean = boolean> {
  /** The method's name as in the .proto file (`Put`). */
  readonly name: string;
  readonly requestType: MessageCodec<Req>;
  readonly requestStream: ReqStream;
  readonly responseType: MessageCodec<Res>;
  readonly responseStream: ResStream;
}

export interface ServiceDefinition {
  /** The service's full name, package included (`etcdserverpb.KV`). */
  readonly fullName: string;
  readonly methods: { readonly [key: string]: MethodDefinition };
}

/** The HTTP/2 path of a method: `/etcdserverpb.KV/Put`. */
export function methodPath(service: ServiceDefinition, method: MethodDefinition): string {
  return `/${service.fullName}/${method.name}`;
}

/** What a handler knows about its call, and what it may add to the answer. */
export interface ServerCall {
  /** The method's path (`/etcdserverpb.KV/Put`). */
  readonly path: string;
  /** The client's address and port. */
  readonly peer: string;
  /** The request metadata (custom headers): e.g. a client id and sequence number. */
  readonly metadata: Metadata;
  /** When the client stops waiting (ms since the epoch, as `Date.now()`), or undefined. */
  readonly deadline: number | undefined;
  /**
   * Aborted when the answer can no longer matter: the deadline passed, the client cancelled,
   * or the server is shutting down past its grace period. Its `reason` is a GrpcStatusError.
   */
  readonly signal: AbortSignal;
  /**
   * The call's SERVER span as a trace context (undefined when the server traces nothing): the
   * parent to pass on, explicitly, to the spans the handler starts (the hops it makes, the
   * proposal it waits for). A service added with `{ traceContext: 'explicit' }` runs its
   * handlers outside OpenTelemetry's context manager, so this is the only way they see it.
   */
  readonly traceContext?: Context;
  /** Adds a response header; only before the first response message is sent. */
  setHeader(key: string, value: string | Buffer): void;
  /** Adds a trailer, sent with the status when the call ends (OK or not). */
  setTrailer(key: string, value: string | Buffer): void;
}

/** A call whose handler sends a stream of responses. */
export interface ServerWritableCall<Res> extends ServerCall {
  /**
   * Sends one response. Resolves when the stream can take more (respect it: this is the flow
   * control); rejects with GrpcStatusError(CANCELLED) once the call has ended.
   */
  write(message: Res): Promise<void>;
}

export type UnaryHandler<Req, Res> = (request: Req, call: ServerCall) => Res | Promise<Res>;
/** Resolving ends the call with OK; the responses are what it wrote. */
export type ServerStreamingHandler<Req, Res> = (request: Req, call: ServerWritableCall<Res>) => Promise<void>;
/** `requests` ends when the client half-closes. */
export type ClientStreamingHandler<Req, Res> = (requests: AsyncIterable<Req>, call: ServerCall) => Promise<Res>;
export type BidiStreamingHandler<Req, Res> = (requests: AsyncIterable<Req>, call: ServerWritableCall<Res>) => Promise<void>;

/** The handler type a method needs, from whether its request and response are streams. */
export type HandlerFor<M> =
  M extends MethodDefinition<infer Req, infer Res, false, false>
    ? UnaryHandler<Req, Res>
    : M extends MethodDefinition<infer Req, infer Res, false, true>
      ? ServerStreamingHandler<Req, Res>
      : M extends MethodDefinition<infer Req, infer Res, true, false>
        ? ClientStreamingHandler<Req, Res>
        : M extends MethodDefinition<infer Req, infer Res, true, true>
          ? BidiStreamingHandler<Req, Res>
          : never;

/** Handlers for some or all methods of a service; the others answer UNIMPLEMENTED. */
export type ServiceImplementation<S extends ServiceDefinition> = {
  readonly [K in keyof S['methods']]?: HandlerFor<S['methods'][K]>;
};

/** Any handler, as the router stores it. */
export type AnyHandler =
  | UnaryHandler<unknown, unknown>
  | ServerStreamingHandler<unknown, unknown>
  | ClientStreamingHandler<unknown, unknown>
  | BidiStreamingHandler<unknown, unknown>;
