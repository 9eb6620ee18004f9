/**
 * A closed-loop load generator over our lean gRPC client: `clients` concurrent loops, each
 * sending the next request as soon as the previous one answers, for a number of operations or
 * a duration. Writes are etcd Puts of fixed-size values over a key space; reads are Ranges
 * (linearizable or serializable). Every request carries a client id and sequence number, as
 * kvctl and the gateway do.
 */
import { GrpcChannel, Metadata, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { LatencyRecorder } from './latency';

export type Workload = 'put' | 'get' | 'mixed';

export interface LoadOptions {
  /** host:port or URLs; requests are spread over them round-robin per client. */
  readonly endpoints: readonly string[];
  readonly workload: Workload;
  readonly clients: number;
  /** Stop after this many operations... */
  readonly operations: number;
  /** ...or after this long (ms), whichever comes first. */
  readonly durationMs: number;
  readonly valueBytes: number;
  readonly keySpace: number;
  /** Fraction of reads in `mixed` (0..1). */
  readonly readRatio: number;
  readonly serializable: boolean;
  readonly timeoutMs: number;
  /** HTTP/2 connections per endpoint. */
  readonly connections: number;
  /**
   * Paced: at most this many operations per second in all (the k-th starts no earlier than
   * k / rate s after the start, on whichever client is free). Default: as fast as answers come.
   */
  readonly ratePerSecond?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface LoadResult {
  readonly operations: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const rate = o.ratePerSecond;
  if (rate !== undefined && !(rate > 0)) {
    throw new Error(`the rate must be above 0 operations per second, not ${rate}`);
  }
  const channels = o.endpoints.map((e) => new GrpcChannel(e, { sessions: o.connections, maxSendMessageBytes: 8 << 20, maxReceiveMessageBytes: 64 << 20 }));
  const clients = channels.map((c) => createClient(etcd.KVDefinition, c));
  const latency = new LatencyRecorder();
  const value = Buffer.alloc(o.valueBytes, 0x61);
  const clientId = `loadgen-${process.pid}-${Date.now().toString(36)}`;
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const endAt = start + o.durationMs;
  const progress = setInterval(() => o.onProgress?.(done, o.operations), 250);

  const one = async (worker: number, seq: number): Promise<void> => {
    const kv = clients[(worker + seq) % clients.length] as (typeof clients)[number];
    const key = Buffer.from(`bench-${(seq * 7919 + worker) % o.keySpace}`);
    const read = o.workload === 'get' || (o.workload === 'mixed' && (seq * 2654435761) % 1000 < o.readRatio * 1000);
    const began = performance.now();
    try {
      if (read) {
        await kv.range(etcd.RangeRequest.fromPartial({ key, serializable: o.serializable }), { timeoutMs: o.timeoutMs });
      } else {
        const metadata = Metadata.from({ 'keyval-client-id': `${clientId}-${worker}`, 'keyval-seq': String(seq) });
        await kv.put(etcd.PutRequest.fromPartial({ key, value }), { timeoutMs: o.timeoutMs, metadata });
      }
      latency.record(performance.now() - began);
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? error.message : String(error);
    }
    done++;
  };

  const loop = async (worker: number): Promise<void> => {
    for (let seq = 1; issued < o.operations && performance.now() < endAt; seq++) {
      const slot = issued++;
      if (rate !== undefined) {
        const wait = start + (slot * 1000) / rate - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await one(worker, seq);
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, w) => loop(w)));
  clearInterval(progress);
  o.onProgress?.(done, o.operations);
  const seconds = (performance.now() - start) / 1000;
  for (const c of channels) c.close();
  return {
    operations: done,
    errors,
    firstError,
    seconds,
    opsPerSecond: (done - errors) / seconds,
    p50Ms: latency.quantile(0.5),
    p90Ms: latency.quantile(0.9),
    p99Ms: latency.quantile(0.99),
    maxMs: latency.quantile(1),
  };
}
