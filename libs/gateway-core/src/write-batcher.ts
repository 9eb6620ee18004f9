/**
 * Sends the writes in flight to one member together, as `keyval.kvbatch.v1.KVBatch/Execute`
 * calls: the member then handles one HTTP/2 stream (headers, framing, a trailer block) for many
 * writes instead of one each, which is most of what a unary call costs it.
 *
 *     submit ─► queue ─► (next turn of the event loop, while fewer than N batches are in flight)
 *                          └─► one Execute call of up to M writes ─► each write settles with its own result
 *
 * Writes arriving while N batches are in flight wait for one to come back and then go
 * together: under load, batches grow by themselves; with one client, every write goes at once.
 * Each write keeps its own deadline (a timer here: the batch answers only when all of its
 * writes have) and its own status: a failure of the batch call as a whole (connection lost,
 * member gone) fails each write with that status, which the forwarder classifies as it would a
 * unary call's. A member that does not serve KVBatch (UNIMPLEMENTED) gets unary calls from then on.
 */
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { Span, Tracer } from '@opentelemetry/api';
import type { GatewayObserver } from './gateway-observer';
import { GrpcStatus, GrpcStatusError, Metadata, endRpcSpan, injectContext } from '@keyval/grpc';
import type { GrpcChannel } from '@keyval/grpc';
import { kvbatch } from '@keyval/proto';

/** How writes are grouped. */
export interface WriteBatchingOptions {
  /** Batches in flight to one member at most (default 1: measured best, see docs/benchmarks.md). */
  readonly maxBatchesInFlight: number;
  /** Writes in one batch at most (default 256). */
  readonly maxCallsPerBatch: number;
  /** Request bytes in one batch at most (default 1 MiB; larger single writes go unary). */
  readonly maxBatchBytes: number;
}

export const DEFAULT_WRITE_BATCHING: WriteBatchingOptions = { maxBatchesInFlight: 1, maxCallsPerBatch: 256, maxBatchBytes: 1 << 20 };

/** The KV methods that may be batched, by path. */
const BATCHED_METHODS: ReadonlyMap<string, string> = new Map([
  ['/etcdserverpb.KV/Put', 'Put'],
  ['/etcdserverpb.KV/DeleteRange', 'DeleteRange'],
  ['/etcdserverpb.KV/Txn', 'Txn'],
]);

const EXECUTE_PATH = `/${kvbatch.KVBatchDefinition.fullName}/${kvbatch.KVBatchDefinition.methods.execute.name}`;
/** Metadata not carried into a batch: it describes the client's connection, not the call. */
const CONNECTION_METADATA = new Set(['user-agent']);

/** The method name to batch `path` as, or undefined when it is not a batched write. */
export function batchedMethod(path: string): string | undefined {
  return BATCHED_METHODS.get(path);
}

/** What a batched write delivers: one end, a response or an error. */
export interface BatchedWriteSink {
  onEnd(error: GrpcStatusError | undefined, response: Buffer | undefined): void;
}

/** A write waiting for, or in, a batch. */
interface PendingWrite {
  readonly call: kvbatch.BatchCall;
  readonly deadline: number;
  readonly bytes: number;
  readonly sink: BatchedWriteSink;
  timer: NodeJS.Timeout | undefined;
  ended: boolean;
  /** The unary call that took over the write (its member does not batch). */
  replacement: BatchedWrite | undefined;
  /** The batch call carrying it, once sent. */
  flight: Flight | undefined;
  /** The attempt's span, when traced (the batch's span links to it). */
  readonly span: Span | undefined;
}

/** One Execute call in flight. */
interface Flight {
  /** Its writes that have not ended yet: at 0 before the answer, the call is cancelled. */
  open: number;
  /** True once it no longer counts against maxBatchesInFlight. */
  released: boolean;
  cancel: ((reason: string) => void) | undefined;
}

/** A batched write in flight; `cancel` ends it with CANCELLED (false if it had ended). */
export interface BatchedWrite {
  cancel(reason: string): boolean;
}

/** The metadata entries of a batch call, or undefined if some cannot be carried (binary values). */
export function batchMetadata(metadata: Metadata | undefined): kvbatch.MetadataEntry[] | undefined {
  const entries: kvbatch.MetadataEntry[] = [];
  if (metadata === undefined) return entries;
  for (const key of metadata.keys()) {
    if (CONNECTION_METADATA.has(key)) continue;
    for (const value of metadata.getAll(key)) {
      if (typeof value !== 'string') return undefined;
      entries.push({ key, value });
    }
  }
  return entries;
}

/** The batches to one member. */
export class WriteBatcher {
  private readonly queue: PendingWrite[] = [];
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  /** False once the member answered UNIMPLEMENTED: it does not serve KVBatch. */
  private supported = true;
  /** Counters for metrics and tests. */
  readonly stats = { batches: 0, writes: 0 };

  constructor(
    private readonly channel: () => GrpcChannel,
    private readonly options: WriteBatchingOptions,
    /** Sends one write as a unary call (large writes, and members without KVBatch). */
    private readonly unary: (path: string, request: Buffer, deadline: number, metadata: Metadata | undefined, sink: BatchedWriteSink) => BatchedWrite,
    /** Hears the size of every batch sent (metrics). */
    private readonly observer?: Pick<GatewayObserver, 'batchSent'>,
    /** Traces each batch call (a CLIENT span linked to the traced attempts it carries). */
    private readonly tracer?: Tracer,
  ) {}

  /**
   * Queues one write of `method` (see batchedMethod) for the next batch, or sends it unary when
   * it is too large for one or the member does not batch.
   */
  submit(path: string, request: Buffer, deadline: number, metadata: Metadata | undefined, sink: BatchedWriteSink, span?: Span): BatchedWrite {
    if (this.closed) {
      sink.onEnd(refusedAfterClose(), undefined);
      return { cancel: () => false };
    }
    const method = BATCHED_METHODS.get(path);
    const entries = this.supported && method !== undefined && request.byteLength <= this.options.maxBatchBytes / 2 ? batchMetadata(metadata) : undefined;
    if (method === undefined || entries === undefined) {
      return this.unary(path, request, deadline, metadata, sink);
    }
    const timeLeft = deadline - Date.now();
    if (timeLeft <= 0) {
      sink.onEnd(new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, 'the deadline had passed before the call started'), undefined);
      return { cancel: () => false };
    }
    const write: PendingWrite = {
      call: { method, request, metadata: entries, timeoutMs: 0 },
      deadline,
      bytes: request.byteLength + 64,
      sink,
      timer: undefined,
      ended: false,
      replacement: undefined,
      flight: undefined,
      span,
    };
    write.timer = setTimeout(() => this.end(write, new GrpcStatusError(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${Math.round(timeLeft)} ms exceeded`), undefined), timeLeft);
    this.queue.push(write);
    this.schedule();
    return { cancel: (reason) => (write.replacement !== undefined ? write.replacement.cancel(reason) : this.end(write, new GrpcStatusError(GrpcStatus.CANCELLED, reason), undefined)) };
  }

  /**
   * Stops sending to this member (it left the cluster, or the gateway stops): writes not yet
   * sent fail UNAVAILABLE as refused (nothing ran, they may go elsewhere); batches in flight finish.
   */
  close(): void {
    this.closed = true;
    for (const write of this.queue.splice(0)) {
      this.end(write, refusedAfterClose(), undefined);
    }
  }

  private schedule(): void {
    if (!this.scheduled && this.inFlight < this.options.maxBatchesInFlight && this.queue.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    while (this.inFlight < this.options.maxBatchesInFlight && this.queue.length > 0) {
      const batch: PendingWrite[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && batch.length < this.options.maxCallsPerBatch) {
        const next = this.queue[0] as PendingWrite;
        if (batch.length > 0 && bytes + next.bytes > this.options.maxBatchBytes) break;
        this.queue.shift();
        if (next.ended) continue;
        batch.push(next);
        bytes += next.bytes;
      }
      if (batch.length > 0) this.send(batch);
    }
  }

  private send(batch: PendingWrite[]): void {
    const now = Date.now();
    let deadline = now;
    const calls = batch.map((write) => {
      deadline = Math.max(deadline, write.deadline);
      return { ...write.call, timeoutMs: Math.max(1, Math.ceil(write.deadline - now)) };
    });
    const flight: Flight = { open: batch.length, released: false, cancel: undefined };
    for (const write of batch) write.flight = flight;
    this.inFlight += 1;
    this.stats.batches += 1;
    this.stats.writes += batch.length;
    this.observer?.batchSent(batch.length);
    let response: kvbatch.ExecuteResponse | undefined;
    const sink = {
      responseStream: false,
      onMessage: (message: kvbatch.ExecuteResponse): void => {
        response = message;
      },
      onEnd: (error: GrpcStatusError | undefined): void => {
        this.release(flight);
        if (error === undefined) {
          this.settle(batch, response ?? { results: [] });
        } else {
          this.failed(batch, error);
        }
      },
    };
    const span = this.tracer === undefined ? undefined : this.batchSpan(this.tracer, batch);
    if (span !== undefined) {
      const end = sink.onEnd;
      sink.onEnd = (error) => {
        endRpcSpan(span.span, error === undefined ? GrpcStatus.OK : error.code, error?.details);
        end(error);
      };
    }
    try {
      const call = this.channel().startCall(EXECUTE_PATH, kvbatch.ExecuteRequest, kvbatch.ExecuteResponse, { calls }, { deadline, metadata: span?.metadata }, sink);
      flight.cancel = (reason) => call.cancel(reason);
    } catch (error) {
      this.release(flight);
      this.failed(batch, error);
    }
  }

  /**
   * The span of one batch call, when any write in it is traced: a child of the first traced
   * attempt (so it is sampled with it), linked to the other traced attempts, each of which
   * links back. Its context goes in the call's headers; each write keeps its own in its metadata.
   */
  private batchSpan(tracer: Tracer, batch: readonly PendingWrite[]): { span: Span; metadata: Metadata } | undefined {
    const traced = batch.filter((w) => w.span !== undefined && w.span.isRecording()).map((w) => w.span as Span);
    const [first, ...rest] = traced;
    if (first === undefined) {
      return undefined;
    }
    const links = rest.map((s) => ({ context: s.spanContext(), attributes: { 'keyval.batch.member': true } }));
    const parent = trace.setSpan(ROOT_CONTEXT, first);
    const span = tracer.startSpan(`${kvbatch.KVBatchDefinition.fullName}/${kvbatch.KVBatchDefinition.methods.execute.name}`, { kind: SpanKind.CLIENT, links, attributes: { 'rpc.system': 'grpc', 'rpc.service': kvbatch.KVBatchDefinition.fullName, 'rpc.method': 'Execute', 'keyval.batch.calls': batch.length } }, parent);
    for (const s of rest) s.addLink({ context: span.spanContext(), attributes: { 'keyval.batch': true } });
    const metadata = new Metadata();
    injectContext(trace.setSpan(parent, span), metadata);
    return { span, metadata };
  }

  /** The batch no longer holds a slot: the next one may go. */
  private release(flight: Flight): void {
    if (!flight.released) {
      flight.released = true;
      this.inFlight -= 1;
      this.schedule();
    }
  }

  private settle(batch: readonly PendingWrite[], response: kvbatch.ExecuteResponse): void {
    batch.forEach((write, i) => {
      const result = response.results[i];
      if (result === undefined) {
        this.end(write, new GrpcStatusError(GrpcStatus.INTERNAL, `the member answered ${response.results.length} of a batch of ${batch.length} calls`), undefined);
      } else if (result.code === GrpcStatus.OK) {
        this.end(write, undefined, result.response);
      } else {
        const trailers: Record<string, string> = {};
        for (const entry of result.trailers) trailers[entry.key] = entry.value;
        this.end(write, new GrpcStatusError(result.code as GrpcStatus, result.message, { metadata: trailers }), undefined);
      }
    });
  }

  private failed(batch: readonly PendingWrite[], error: unknown): void {
    const status = error instanceof GrpcStatusError ? error : new GrpcStatusError(GrpcStatus.UNAVAILABLE, `batch call failed: ${String(error)}`);
    if (status.code === GrpcStatus.UNIMPLEMENTED) {
      // The member does not serve KVBatch: nothing ran. Send these (and all later writes) unary.
      this.supported = false;
      for (const write of batch) {
        if (write.ended) continue;
        this.clearTimer(write);
        write.ended = true;
        write.replacement = this.unary(BATCH_PATHS.get(write.call.method) as string, write.call.request, write.deadline, metadataOf(write.call.metadata), write.sink);
      }
      return;
    }
    for (const write of batch) this.end(write, status, undefined);
  }

  private end(write: PendingWrite, error: GrpcStatusError | undefined, response: Buffer | undefined): boolean {
    if (write.ended) return false;
    write.ended = true;
    this.clearTimer(write);
    const flight = write.flight;
    if (flight !== undefined && !flight.released && --flight.open === 0) {
      // Every write of the batch ended here (deadlines, cancellations) before the member
      // answered: a hung batch must not hold the slot the next writes need.
      this.release(flight);
      flight.cancel?.('every call of the batch ended before the member answered');
    }
    write.sink.onEnd(error, response);
    return true;
  }

  private clearTimer(write: PendingWrite): void {
    if (write.timer !== undefined) {
      clearTimeout(write.timer);
      write.timer = undefined;
    }
  }
}

/** A write the gateway did not send: its member left (never sent: it may go elsewhere). */
function refusedAfterClose(): GrpcStatusError {
  return new GrpcStatusError(GrpcStatus.UNAVAILABLE, 'the gateway refused the call to a member it no longer sends to', { outcome: 'never-sent' });
}

const BATCH_PATHS: ReadonlyMap<string, string> = new Map([...BATCHED_METHODS].map(([path, method]) => [method, path]));

function metadataOf(entries: readonly kvbatch.MetadataEntry[]): Metadata {
  const metadata = new Metadata();
  for (const { key, value } of entries) metadata.add(key, value);
  return metadata;
}
