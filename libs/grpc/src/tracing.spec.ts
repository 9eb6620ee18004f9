/**
 * Calls traced through @opentelemetry/api with an in-memory SDK: the server's SERVER span takes
 * its parent from the request's traceparent, carries the RPC semantic-convention attributes and
 * the status, and is the active span inside the handler (or, for a service added with
 * traceContext 'explicit', is given to it as call.traceContext only); a CLIENT span's context
 * reaches the server through metadata; without a tracer no span is made.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { etcd } from '@keyval/proto';
import { GrpcChannel } from './channel';
import { createClient } from './client';
import { Metadata } from './metadata';
import { GrpcServer } from './server';
import { GrpcStatus } from './status';
import { GrpcStatusError } from './grpc-status.error';
import { endRpcSpan, startClientSpan } from './tracing';

const contextManager = new AsyncLocalStorageContextManager();
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('test');

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

afterAll(() => {
  context.disable();
  propagation.disable();
});

async function serve(withTracer: boolean): Promise<{ server: GrpcServer; channel: GrpcChannel; activeInHandler: string[] }> {
  const activeInHandler: string[] = [];
  const server = new GrpcServer(withTracer ? { tracer } : {});
  server.addService(etcd.KVDefinition, {
    put: async (request) => {
      activeInHandler.push(trace.getSpan(context.active())?.spanContext().spanId ?? 'none');
      if (request.key.toString() === 'fail') throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, 'nope');
      return etcd.PutResponse.fromPartial({});
    },
  });
  const { port } = await server.listen(0);
  return { server, channel: new GrpcChannel(`127.0.0.1:${port}`), activeInHandler };
}

describe('gRPC tracing', () => {
  beforeEach(() => exporter.reset());

  it('makes a SERVER span under the client\'s CLIENT span, active in the handler, with the RPC attributes and status', async () => {
    const { server, channel, activeInHandler } = await serve(true);
    try {
      const kv = createClient(etcd.KVDefinition, channel);
      const metadata = new Metadata();
      const clientSpan = startClientSpan(tracer, '/etcdserverpb.KV/Put', metadata);
      expect(metadata.get('traceparent')).toBe(`00-${clientSpan.spanContext().traceId}-${clientSpan.spanContext().spanId}-01`);
      await kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from('a') }), { metadata });
      endRpcSpan(clientSpan, GrpcStatus.OK);
      await expect(kv.put(etcd.PutRequest.fromPartial({ key: Buffer.from('fail') }))).rejects.toThrow(GrpcStatusError);
      const spans = exporter.getFinishedSpans();
      const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
      expect(servers).toHaveLength(2);
      const [ok, failed] = servers;
      expect(ok?.name).toBe('etcdserverpb.KV/Put');
      expect(ok?.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
      expect(ok?.spanContext().traceId).toBe(clientSpan.spanContext().traceId);
      expect(ok?.attributes).toEqual({ 'rpc.system': 'grpc', 'rpc.service': 'etcdserverpb.KV', 'rpc.method': 'Put', 'rpc.grpc.status_code': 0 });
      expect(activeInHandler[0]).toBe(ok?.spanContext().spanId);
      expect(failed?.parentSpanContext).toBeUndefined(); // no traceparent: a root span
      expect(failed?.attributes['rpc.grpc.status_code']).toBe(GrpcStatus.FAILED_PRECONDITION);
      expect(failed?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'FAILED_PRECONDITION: nope' });
    } finally {
      channel.close();
      await server.shutdown(1000);
    }
  });

  it('passes the span explicitly to a service added with traceContext explicit: nested across two hops, nothing active in the handler', async () => {
    // Two servers: the front one forwards each call to the back one (as a follower forwards a
    // write to its leader), starting the forward's CLIENT span from call.traceContext.
    const back = new GrpcServer({ tracer });
    const activeInBack: string[] = [];
    back.addService(
      etcd.KVDefinition,
      {
        put: (_request, call) => {
          activeInBack.push(trace.getSpan(context.active())?.spanContext().spanId ?? 'none');
          expect(call.traceContext).toBeDefined();
          return etcd.PutResponse.fromPartial({});
        },
      },
      { traceContext: 'explicit' },
    );
    const backPort = (await back.listen(0)).port;
    const backChannel = new GrpcChannel(`127.0.0.1:${backPort}`);
    const front = new GrpcServer({ tracer });
    const activeInFront: string[] = [];
    front.addService(
      etcd.KVDefinition,
      {
        put: async (request, call) => {
          activeInFront.push(trace.getSpan(context.active())?.spanContext().spanId ?? 'none');
          const metadata = new Metadata();
          const forward = startClientSpan(tracer, '/etcdserverpb.KV/Put', metadata, { 'keyval.hop': 'forward' }, call.traceContext);
          const response = await createClient(etcd.KVDefinition, backChannel).put(request, { metadata });
          endRpcSpan(forward, GrpcStatus.OK);
          return response;
        },
      },
      { traceContext: 'explicit' },
    );
    const frontPort = (await front.listen(0)).port;
    const frontChannel = new GrpcChannel(`127.0.0.1:${frontPort}`);
    try {
      const metadata = new Metadata();
      const clientSpan = startClientSpan(tracer, '/etcdserverpb.KV/Put', metadata);
      await createClient(etcd.KVDefinition, frontChannel).put(etcd.PutRequest.fromPartial({ key: Buffer.from('a') }), { metadata });
      endRpcSpan(clientSpan, GrpcStatus.OK);
      const spans = exporter.getFinishedSpans();
      const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
      const frontServer = servers.find((s) => s.parentSpanContext?.spanId === clientSpan.spanContext().spanId);
      const forward = spans.find((s) => s.kind === SpanKind.CLIENT && s.attributes['keyval.hop'] === 'forward');
      const backServer = servers.find((s) => s.parentSpanContext?.spanId === forward?.spanContext().spanId);
      expect(frontServer).toBeDefined();
      expect(forward?.parentSpanContext?.spanId).toBe(frontServer?.spanContext().spanId);
      expect(backServer).toBeDefined();
      for (const span of [frontServer, forward, backServer]) expect(span?.spanContext().traceId).toBe(clientSpan.spanContext().traceId);
      // The handlers ran outside the context manager: no active span there.
      expect(activeInFront).toEqual(['none']);
      expect(activeInBack).toEqual(['none']);
    } finally {
      frontChannel.close();
      backChannel.close();
      await front.shutdown(1000);
      await back.shutdown(1000);
    }
  });

  it('makes no span without a tracer, even for a request that carries a traceparent', async () => {
    const { server, channel, activeInHandler } = await serve(false);
    try {
      const metadata = new Metadata().add('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      await createClient(etcd.KVDefinition, channel).put(etcd.PutRequest.fromPartial({ key: Buffer.from('a') }), { metadata });
      expect(exporter.getFinishedSpans()).toEqual([]);
      expect(activeInHandler).toEqual(['none']);
    } finally {
      channel.close();
      await server.shutdown(1000);
    }
  });
});
