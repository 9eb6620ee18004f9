/**
 * The contract between the gRPC server and one of its calls: the method a call serves (its
 * handler, observer and tracing, resolved once when the service is added) and what the call
 * needs from its server (limits, error reporting, tracer, and being told when it is gone).
 *
 *     GrpcServer.addService ─► Route (one per method) ─┐
 *     GrpcServer (CallHost) ──────────────────────────┴─► new ServerCallImpl(host, stream, headers, route)
 */
import type { Attributes, Tracer } from '@opentelemetry/api';
import type { AnyHandler, MethodDefinition } from './method';
import type { ServerCallImpl } from './server-call';
import type { GrpcMethodObserver } from './server-observer';

/** A method the server knows; `handler` is undefined when the service declares it but the implementation does not. */
export interface Route {
  readonly path: string;
  readonly method: MethodDefinition;
  readonly handler: AnyHandler | undefined;
  /** Hears about every call of this method (metrics), if the server has an observer. */
  readonly observer: GrpcMethodObserver | undefined;
  /** The server span's name and constant attributes (rpc.system, rpc.service, rpc.method). */
  readonly spanName: string;
  readonly spanAttributes: Attributes;
  /**
   * `active`: the handler runs inside the call's span as OpenTelemetry's active context (its
   * context manager, AsyncLocalStorage in the apps); `explicit`: it does not, and reads the
   * span from `call.traceContext` (no context-manager work per call).
   */
  readonly traceContext: 'active' | 'explicit';
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
  /** Traces every call (a SERVER span, parent from the request's traceparent), or undefined: no tracing. */
  readonly tracer: Tracer | undefined;
}
