/**
 * What the apps share about tracing without the OpenTelemetry SDK (which only the apps load):
 * whether the standard OTEL_* variables ask for traces, and the trace ids of the active span
 * for log lines.
 */
import { context, isSpanContextValid, trace } from '@opentelemetry/api';

type Env = Readonly<Record<string, string | undefined>>;

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v.length > 0);

/**
 * True when the environment asks for traces: OTEL_TRACES_EXPORTER names an exporter other
 * than `none` (otlp, zipkin, console), or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT
 * or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); never when OTEL_SDK_DISABLED is true. With none of
 * these set nothing is started and tracing costs nothing.
 */
export function tracesRequested(env: Env): boolean {
  if ((env['OTEL_SDK_DISABLED'] ?? '').trim().toLowerCase() === 'true') {
    return false;
  }
  const exporters = list(env['OTEL_TRACES_EXPORTER']);
  if (exporters.length > 0) {
    return !exporters.includes('none');
  }
  return (env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '').trim() !== '' || (env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? '').trim() !== '';
}

/**
 * `trace_id` and `span_id` of the span active where a log line is written, for pino's
 * `mixin` (installed only when tracing runs); no fields outside a span. A new object each
 * time: pino writes the line's own fields into it.
 */
export function activeTraceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (span === undefined) {
    return {};
  }
  const ids = span.spanContext();
  return isSpanContextValid(ids) ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
}
