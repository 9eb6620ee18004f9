import { context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { activeTraceFields, tracesRequested } from './tracing-env';

describe('tracesRequested', () => {
  it.each([
    [{}, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_TRACES_EXPORTER: ' ' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_TRACES_SAMPLER: 'always_on' }, false],
  ])('%j → %s', (env, expected) => {
    expect(tracesRequested(env)).toBe(expected);
  });
});

describe('activeTraceFields', () => {
  const manager = new AsyncLocalStorageContextManager();
  beforeAll(() => context.setGlobalContextManager(manager.enable()));
  afterAll(() => context.disable());

  it('is empty outside a span, names the active span inside one (across an await), and gives a fresh object each time', async () => {
    expect(activeTraceFields()).toEqual({});
    const ids = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    const fields = await context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext(ids)), async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return activeTraceFields();
    });
    expect(fields).toEqual({ trace_id: ids.traceId, span_id: ids.spanId });
    expect(activeTraceFields()).not.toBe(activeTraceFields()); // pino writes into it
    const invalid = trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });
    expect(context.with(trace.setSpan(ROOT_CONTEXT, invalid), () => activeTraceFields())).toEqual({});
  });
});
