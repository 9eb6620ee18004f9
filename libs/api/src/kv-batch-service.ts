/**
 * `keyval.kvbatch.v1.KVBatch/Execute`: many etcd KV writes in one gRPC call (the gateway sends
 * the writes its clients have in flight together). Each call in the batch runs through the
 * same handler as the unary etcd call — validation, client session, forwarding, deadline —
 * with its own metadata and deadline, and gets its own status; the batch answers when every
 * call has its answer.
 *
 *     ExecuteRequest ─► per call: decode ─► KvService handler (as a unary call) ─► BatchResult
 *                                    └─ any failure: that call's status and trailers, never the batch's
 */
import { ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { Context, Span, Tracer } from '@opentelemetry/api';
import { GrpcStatus, GrpcStatusError, Metadata, contextFromMetadata, endRpcSpan, rpcSpanInfo, startServerSpan, withOutcomeTrailers } from '@keyval/grpc';
import type { HandlerFor, ServerCall } from '@keyval/grpc';
import { etcd, kvbatch } from '@keyval/proto';
import type { KvService } from './kv-service';

/** Most calls in one batch (a limit on everything); a larger batch is refused whole. */
export const BATCH_CALLS_MAX = 4_096;

type BatchMethod = 'Put' | 'DeleteRange' | 'Txn';

export interface KvBatchServiceOptions {
  /** Told of failures that are not GrpcStatusError (bugs): they answer INTERNAL. */
  readonly onHandlerError?: (error: unknown, path: string) => void;
  /**
   * Traces each call of a batch as the unary call it stands for: a SERVER span whose parent is
   * the traceparent in that call's own metadata (the gateway's attempt), linked to the batch's
   * span. Default: none.
   */
  readonly tracer?: Tracer;
}

/** A batch call seen by the KV handler as the unary call it stands for. */
class BatchItemCall implements ServerCall {
  readonly trailers: Record<string, string> = {};

  constructor(
    readonly path: string,
    readonly peer: string,
    readonly metadata: Metadata,
    readonly deadline: number | undefined,
    private readonly batch: ServerCall,
    /** This call's own SERVER span as a context (or, untraced, the batch's). */
    readonly traceContext: Context | undefined,
  ) {}

  get signal(): AbortSignal {
    return this.batch.signal;
  }

  setHeader(): void {
    // A batch call has no headers of its own to send.
  }

  setTrailer(key: string, value: string | Buffer): void {
    if (typeof value === 'string') {
      this.trailers[key] = value;
    }
  }
}

export class KvBatchService {
  constructor(
    private readonly kv: KvService,
    private readonly options: KvBatchServiceOptions = {},
  ) {}

  readonly implementation: { readonly execute: HandlerFor<typeof kvbatch.KVBatchDefinition.methods.execute> } = {
    execute: async (request, call) => {
      if (request.calls.length > BATCH_CALLS_MAX) {
        throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `a batch holds at most ${BATCH_CALLS_MAX} calls, got ${request.calls.length}`);
      }
      const results = await Promise.all(request.calls.map((one) => this.run(one, call)));
      return { results };
    },
  };

  private async run(one: kvbatch.BatchCall, batch: ServerCall): Promise<kvbatch.BatchResult> {
    const path = `/${etcd.KVDefinition.fullName}/${one.method}`;
    let item: BatchItemCall | undefined;
    let span: Span | undefined;
    try {
      const metadata = metadataOf(one.metadata);
      const deadline = one.timeoutMs > 0 ? Date.now() + one.timeoutMs : batch.deadline;
      const tracer = this.options.tracer;
      const traced = tracer === undefined ? undefined : this.startItemSpan(tracer, path, metadata, batch.traceContext ?? ROOT_CONTEXT);
      span = traced?.span;
      // The item's span goes down the write path explicitly (ServerCall.traceContext), not
      // through OpenTelemetry's context manager.
      const itemCall = new BatchItemCall(path, batch.peer, metadata, deadline, batch, traced?.context ?? batch.traceContext);
      item = itemCall;
      const response = await this.dispatch(one.method as BatchMethod, one.request, itemCall);
      if (span !== undefined) endRpcSpan(span, GrpcStatus.OK);
      return { code: GrpcStatus.OK, message: '', response, trailers: trailersOf(item.trailers) };
    } catch (error) {
      const status = error instanceof GrpcStatusError ? withOutcomeTrailers(error) : this.internal(error, path);
      if (span !== undefined) endRpcSpan(span, status.code, status.details);
      const trailers: Record<string, string> = { ...(item?.trailers ?? {}) };
      for (const [key, value] of Object.entries(status.metadata)) {
        if (typeof value === 'string') trailers[key] = value;
      }
      return { code: status.code, message: status.details, response: Buffer.alloc(0), trailers: trailersOf(trailers) };
    }
  }

  private async dispatch(method: BatchMethod, bytes: Buffer, call: BatchItemCall): Promise<Buffer> {
    const kv = this.kv.implementation;
    switch (method) {
      case 'Put':
        return Buffer.from(etcd.PutResponse.encode(await kv.put(decode(etcd.PutRequest, bytes, method), call)).finish());
      case 'DeleteRange':
        return Buffer.from(etcd.DeleteRangeResponse.encode(await kv.deleteRange(decode(etcd.DeleteRangeRequest, bytes, method), call)).finish());
      case 'Txn':
        return Buffer.from(etcd.TxnResponse.encode(await kv.txn(decode(etcd.TxnRequest, bytes, method), call)).finish());
      default:
        throw new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, `KVBatch carries Put, DeleteRange and Txn calls, not ${JSON.stringify(method)}`);
    }
  }

  /** The SERVER span of one call of a batch: its parent from the call's metadata (else the batch's span), linked to the batch's span. */
  private startItemSpan(tracer: Tracer, path: string, metadata: Metadata, batchContext: Context): { span: Span; context: Context } {
    const batchSpan = trace.getSpan(batchContext);
    const carried = contextFromMetadata(metadata);
    const parent = trace.getSpan(carried) === undefined ? batchContext : carried;
    const info = rpcSpanInfo(path);
    const span = startServerSpan(tracer, info.name, info.attributes, parent);
    if (batchSpan !== undefined && parent !== batchContext) {
      span.addLink({ context: batchSpan.spanContext(), attributes: { 'keyval.batch': true } });
    }
    return { span, context: trace.setSpan(parent, span) };
  }

  private internal(error: unknown, path: string): GrpcStatusError {
    this.options.onHandlerError?.(error, path);
    return withOutcomeTrailers(new GrpcStatusError(GrpcStatus.INTERNAL, 'internal error'));
  }
}

function decode<T>(codec: { decode(input: Uint8Array): T }, bytes: Uint8Array, method: string): T {
  try {
    return codec.decode(bytes);
  } catch (error) {
    throw new GrpcStatusError(GrpcStatus.INTERNAL, `the ${method} request in the batch does not parse: ${(error as Error).message}`);
  }
}

function metadataOf(entries: readonly kvbatch.MetadataEntry[]): Metadata {
  const metadata = new Metadata();
  try {
    for (const entry of entries) {
      metadata.add(entry.key, entry.value);
    }
  } catch (error) {
    throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `bad metadata in a batch call: ${(error as Error).message}`);
  }
  return metadata;
}

function trailersOf(record: Record<string, string>): kvbatch.MetadataEntry[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}
