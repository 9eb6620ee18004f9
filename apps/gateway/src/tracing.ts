/**
 * OpenTelemetry tracing for the gateway process: the SDK starts only when the standard
 * variables ask for it (`tracesRequested`: OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT...);
 * it then reads the rest itself — the exporter (otlp over http/protobuf by default, zipkin,
 * console), OTEL_TRACES_SAMPLER[_ARG], OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES — and
 * registers the W3C trace-context propagator and an AsyncLocalStorage context manager. Only
 * traces: no metric or log exporters (metrics are Prometheus'). Without it the libs get no
 * tracer and trace nothing.
 */
import { trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { tracesRequested } from '@keyval/ops';

export interface Tracing {
  /** The tracer the libs use, or undefined when tracing is off. */
  readonly tracer: Tracer | undefined;
  /** Flushes the spans still buffered (on shutdown). */
  shutdown(): Promise<void>;
}

export const TRACING_OFF: Tracing = { tracer: undefined, shutdown: () => Promise.resolve() };

/**
 * Starts the SDK if the environment asks for traces; `service` unless OTEL_SERVICE_NAME says
 * otherwise. The SDK's modules are loaded only then: they take a second or two to load on a
 * busy machine, which a member started without tracing (or only to print a usage error) must
 * not pay.
 */
export async function startTracing(service: string, instance: string, version: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  if (!tracesRequested(env)) {
    return TRACING_OFF;
  }
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const sdk = new NodeSDK({
    serviceName: (env['OTEL_SERVICE_NAME'] ?? '').trim() === '' ? service : undefined,
    resource: resourceFromAttributes({ 'service.instance.id': instance, 'service.version': version }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return { tracer: trace.getTracer('keyval', version), shutdown: () => sdk.shutdown() };
}
