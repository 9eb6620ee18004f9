/**
 * Public surface of @keyval/grpc: a lean gRPC server (on our own HTTP/2, `./h2`) and client, for the
 * client hot path (etcd KV API) and the admin tools. Messages are encoded with the codecs
 * ts-proto generates (@keyval/proto); services are its generic definitions.
 */
export { GrpcStatus, statusName, parseStatusCode } from './status';
export { GrpcStatusError, hasGrpcStatus, withOutcomeTrailers, type StatusMetadata } from './grpc-status.error';
export { Metadata, encodeGrpcMessage, decodeGrpcMessage, METADATA_ENTRIES_MAX } from './metadata';
export { parseGrpcTimeout, formatGrpcTimeout } from './timeout';
export { FrameDecoder, encodeFrame, frameBytes, FRAME_HEADER_BYTES, type MessageCodec } from './framing';
export * from './method';
export { GrpcServer, type AddServiceOptions, type GrpcServerOptions } from './server';
export { grpcHealthService, HEALTH_SERVING, HEALTH_NOT_SERVING } from './health-check';
export { H2Error } from './h2/frame';
export type { Http1Handler } from './http1-connections';
export { callTypeOf, type GrpcCallType, type GrpcLimitObserver, type GrpcMethodObserver, type GrpcServerObserver } from './server-observer';
export {
  dispatchConnection,
  protocolOf,
  HTTP2_PREFACE,
  type ConnectionProtocol,
  type ConnectionTargets,
  type DispatchOptions,
} from './connection-dispatch';
export {
  checkLimits,
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_H2_SERVER_LIMITS,
  type H2ServerLimits,
  LimitOutOfRangeError,
} from './h2/limits';
export { GrpcChannel, parseTarget, type GrpcChannelOptions, type ClientTlsOptions } from './channel';
export type { ServerTlsOptions } from './server-transport';
export { ThrowawayCa, memberTlsFlags, type IssuedFiles, type IssueOptions } from './tls/throwaway-pki';
export { CertificateStore, type CertificateStoreOptions, type LoadedCertificates, type TlsFiles, type TlsPolicy } from './tls/certificate-store';
export { type CallOptions, statusFromHttp } from './client-call';
export {
  createClient,
  unaryCall,
  serverStreamingCall,
  bidiStreamingCall,
  type BidiCall,
  type BidiStreamingClientMethod,
  type ServiceClient,
  type ClientMethodFor,
  type UnaryClientMethod,
  type ServerStreamingClientMethod,
} from './client';
export { MessageQueue } from './message-queue';
export { contextFromHeaders, contextFromMetadata, injectContext, startClientSpan, startServerSpan, endRpcSpan, rpcSpanInfo } from './tracing';
export { installLeanAsyncResourceBind } from './lean-async-bind';
export { JsonApi, parseJsonObjects, type JsonApiOptions } from './json-api';
export { JSON_API_PATHS, streamErrorLine } from './json-api-paths';
