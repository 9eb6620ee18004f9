/**
 * What a GrpcServer tells an observer (metrics) about its calls. The observer is asked once
 * per method, when the service is added, for the object that will hear about every call of
 * that method: the hot path then makes two plain calls per call (started, handled), with no
 * lookup and no allocation. `@keyval/metrics` implements it with etcd's `grpc_server_*`
 * families; without an observer the server does none of this.
 *
 *     addService ─► observer.method(service, method) ─► MethodObserver (kept on the route)
 *     call opens ─► started()          the status is decided ─► handled(code, elapsedMs)
 */
import type { MethodDefinition } from './method';
import type { GrpcStatus } from './status';

/** go-grpc-prometheus' call types: what `grpc_type` says. */
export type GrpcCallType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/** The call type of a method, from whether its request and response are streams. */
export function callTypeOf(method: Pick<MethodDefinition, 'requestStream' | 'responseStream'>): GrpcCallType {
  if (method.requestStream) {
    return method.responseStream ? 'bidi_stream' : 'client_stream';
  }
  return method.responseStream ? 'server_stream' : 'unary';
}

/** Hears about every call of one method. Must not throw. */
export interface GrpcMethodObserver {
  /** A call of this method was routed (before its handler runs). */
  started(): void;
  /**
   * The call's status was decided (sent, or the client cancelled: CANCELLED), once per call;
   * `elapsedMs` since it started.
   */
  handled(code: GrpcStatus, elapsedMs: number): void;
}

export interface GrpcServerObserver {
  /** Called once per method of each added service (`service` is its full name: `etcdserverpb.KV`). */
  method(service: string, method: MethodDefinition): GrpcMethodObserver;
}
