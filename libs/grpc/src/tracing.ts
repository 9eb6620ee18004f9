/**
 * OpenTelemetry for calls (through `@opentelemetry/api` only; the apps start the SDK): W3C
 * `traceparent`/`tracestate` read from and written to gRPC metadata, and spans named and
 * described by the RPC semantic conventions (`rpc.system`, `rpc.service`, `rpc.method`,
 * `rpc.grpc.status_code`).
 *
 *     client side: startClientSpan(tracer, path, metadata) ─► CLIENT span, its context injected into metadata
 *     server side: GrpcServer({ tracer }) ─► SERVER span per call, parent extracted from the headers,
 *                  the handler run inside it (context.active() is the call's span), or, for a
 *                  service added with traceContext 'explicit', given it as call.traceContext
 *
 * Nothing here runs without a tracer: callers check for one first, so a process without the
 * SDK pays one comparison per call.
 */
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Attributes, Context, Span, TextMapGetter, TextMapSetter, Tracer } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http2';
import type { Metadata } from './metadata';
import { GrpcStatus, statusName } from './status';

/** The span name and constant attributes of a method path `/pkg.Service/Method`. */
export function rpcSpanInfo(path: string): { name: string; attributes: Attributes } {
  const slash = path.lastIndexOf('/');
  const service = path.slice(1, slash);
  const method = path.slice(slash + 1);
  return { name: `${service}/${method}`, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method } };
}

const HEADERS_GETTER: TextMapGetter<IncomingHttpHeaders> = {
  get: (headers, key) => headers[key],
  keys: (headers) => Object.keys(headers),
};

const METADATA_GETTER: TextMapGetter<Metadata> = {
  get: (metadata, key) => metadata.get(key),
  keys: (metadata) => metadata.keys(),
};

const METADATA_SETTER: TextMapSetter<Metadata> = {
  set: (metadata, key, value) => {
    metadata.set(key, value);
  },
};

/** The remote parent a request's headers carry (W3C trace context), or the root context. */
export function contextFromHeaders(headers: IncomingHttpHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers, HEADERS_GETTER);
}

/** The remote parent call metadata carries, or the root context. */
export function contextFromMetadata(metadata: Metadata): Context {
  return propagation.extract(ROOT_CONTEXT, metadata, METADATA_GETTER);
}

/** Writes `ctx`'s span context into `metadata` (replacing any traceparent/tracestate there). */
export function injectContext(ctx: Context, metadata: Metadata): void {
  metadata.remove('traceparent');
  metadata.remove('tracestate');
  propagation.inject(ctx, metadata, METADATA_SETTER);
}

/**
 * Starts a CLIENT span for a call of `path` as a child of `parent` (default: the active
 * context) and writes its context into `metadata`, so the server's span becomes its child.
 * End it with `endRpcSpan`.
 */
export function startClientSpan(tracer: Tracer, path: string, metadata: Metadata, extra?: Attributes, parent: Context = context.active()): Span {
  const info = rpcSpanInfo(path);
  const span = tracer.startSpan(info.name, { kind: SpanKind.CLIENT, attributes: info.attributes }, parent);
  if (extra !== undefined && span.isRecording()) {
    span.setAttributes(extra);
  }
  injectContext(trace.setSpan(parent, span), metadata);
  return span;
}

/** Starts a SERVER span for a call of `path` whose parent is `parent` (see contextFromHeaders). */
export function startServerSpan(tracer: Tracer, name: string, attributes: Attributes, parent: Context): Span {
  return tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
}

/** Ends an RPC span with its gRPC status (an error status for every code but OK). */
export function endRpcSpan(span: Span, code: GrpcStatus, details?: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== GrpcStatus.OK) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: details === undefined || details === '' ? statusName(code) : `${statusName(code)}: ${details}` });
  }
  span.end();
}
