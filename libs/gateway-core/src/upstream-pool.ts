/**
 * Connections to the members: one GrpcChannel per member address, each a small pool of
 * HTTP/2 connections on which any number of calls are multiplexed. Calls are raw: request
 * bytes go out as they came in, response bytes come back undecoded.
 *
 * Calls in flight are tracked per address, so that when leadership moves the forwarder can
 * cancel the attempts still waiting on the old leader and send them again to the new one
 * (`leaderBoundCalls`) instead of waiting for their deadline.
 */
import { type ClientTlsOptions, GrpcChannel, GrpcStatus, Metadata, bidiStreamingCall, endRpcSpan, serverStreamingCall, startClientSpan } from '@keyval/grpc';
import type { Span, Tracer } from '@opentelemetry/api';
import type { BidiCall, CallOptions, GrpcStatusError, MethodDefinition } from '@keyval/grpc';
import type { GatewayObserver, UpstreamObserver } from './gateway-observer';
import { RAW_CODEC } from './raw-codec';
import { WriteBatcher, batchedMethod } from './write-batcher';
import type { BatchedWrite, WriteBatchingOptions } from './write-batcher';

/** Connection settings shared by every member's channel. */
export interface UpstreamPoolOptions {
  /** HTTP/2 connections per member. */
  readonly connectionsPerMember: number;
  /** Largest request and response message, bytes. */
  readonly maxSendMessageBytes: number;
  readonly maxReceiveMessageBytes: number;
  /** A connection not established within this fails its calls UNAVAILABLE, ms. */
  readonly connectTimeoutMs: number;
  /** Writes (Put, DeleteRange, Txn) in flight to a member sent together (KVBatch); undefined: one call each. */
  readonly writeBatching?: WriteBatchingOptions;
  /** TLS towards the members (the gateway's own client certificate), or undefined for h2c. */
  readonly tls?: ClientTlsOptions;
  /** Hears how long calls to each member take and how large batches are (metrics). Default: none. */
  readonly observer?: GatewayObserver;
  /**
   * Traces every attempt as a CLIENT span (child of the active span: the client's call), its
   * context written into the attempt's metadata; a KVBatch call gets its own span, linked to
   * the attempts it carries. Default: none.
   */
  readonly tracer?: Tracer;
}

/** One call in flight to a member. */
export interface UpstreamCall {
  readonly authority: string;
  /** True when leadership moving away from `authority` should cancel it. */
  readonly leaderBound: boolean;
  /** Ends it with CANCELLED and `reason`; false when it had already ended. */
  cancel(reason: string): boolean;
}

const RAW_BIDI_METHOD: MethodDefinition<Buffer, Buffer, true, true> = {
  name: 'raw',
  requestType: RAW_CODEC,
  responseType: RAW_CODEC,
  requestStream: true,
  responseStream: true,
};

const RAW_STREAMING_METHOD: MethodDefinition<Buffer, Buffer, false, true> = {
  name: 'raw',
  requestType: RAW_CODEC,
  responseType: RAW_CODEC,
  requestStream: false,
  responseStream: true,
};

/** Most member addresses the pool holds channels for (a limit on everything). */
export const UPSTREAMS_MAX = 256;

/** The channels to the members, and the calls in flight on them. */
export class UpstreamPool {
  private readonly channels = new Map<string, GrpcChannel>();
  private readonly inFlight = new Map<string, Set<UpstreamCall>>();
  private readonly batchers = new Map<string, WriteBatcher>();
  /** With an observer: each member address's, asked once. */
  private readonly upstreamObservers = new Map<string, UpstreamObserver>();
  private closed = false;

  constructor(private readonly options: UpstreamPoolOptions) {}

  /** The channel to `authority` (host:port), created on first use. */
  channel(authority: string): GrpcChannel {
    let channel = this.channels.get(authority);
    if (channel === undefined) {
      if (this.closed) {
        throw new Error('UpstreamPool: closed');
      }
      if (this.channels.size >= UPSTREAMS_MAX) {
        throw new RangeError(`UpstreamPool: more than ${UPSTREAMS_MAX} member addresses`);
      }
      channel = new GrpcChannel(authority, {
        sessions: this.options.connectionsPerMember,
        maxSendMessageBytes: this.options.maxSendMessageBytes,
        maxReceiveMessageBytes: this.options.maxReceiveMessageBytes,
        connectTimeoutMs: this.options.connectTimeoutMs,
        tls: this.options.tls,
      });
      this.channels.set(authority, channel);
    }
    return channel;
  }

  /**
   * Sends one unary call of raw `request` bytes to `authority` and resolves with the raw
   * response bytes; rejects with GrpcStatusError. `leaderBound` calls are listed by
   * `leaderBoundCalls(authority)`.
   */
  unary(authority: string, path: string, request: Buffer, options: CallOptions, leaderBound: boolean): Promise<Buffer> {
    const observer = this.upstreamObserver(authority);
    const began = observer === undefined ? 0 : performance.now();
    const tracer = this.options.tracer;
    const span: Span | undefined = tracer !== undefined && options.metadata instanceof Metadata ? startClientSpan(tracer, path, options.metadata, { 'server.address': authority }) : undefined;
    return new Promise<Buffer>((resolve, reject) => {
      let tracked: UpstreamCall | undefined;
      let ended = false;
      const onEnd = (error: GrpcStatusError | undefined, response: Buffer | undefined): void => {
        ended = true;
        observer?.answered(performance.now() - began);
        if (span !== undefined) endRpcSpan(span, error === undefined ? GrpcStatus.OK : error.code, error?.details);
        if (tracked !== undefined) {
          this.untrack(tracked);
        }
        if (error === undefined) {
          resolve(response as Buffer);
        } else {
          reject(error);
        }
      };
      try {
        const batching = this.options.writeBatching !== undefined && batchedMethod(path) !== undefined && options.deadline !== undefined && options.signal === undefined && (options.metadata === undefined || options.metadata instanceof Metadata);
        const call = batching
          ? this.batcher(authority).submit(path, request, options.deadline as number, options.metadata as Metadata | undefined, { onEnd }, span)
          : this.startUnary(authority, path, request, options, onEnd);
        // A call may end inside startCall (its deadline had passed): then there is nothing to track.
        if (!ended) {
          tracked = { authority, leaderBound, cancel: (reason) => call.cancel(reason) };
          this.track(tracked);
        }
      } catch (error) {
        reject(error);
      }
    });
  }

  private upstreamObserver(authority: string): UpstreamObserver | undefined {
    const gatewayObserver = this.options.observer;
    if (gatewayObserver === undefined) {
      return undefined;
    }
    let observer = this.upstreamObservers.get(authority);
    if (observer === undefined && this.upstreamObservers.size < UPSTREAMS_MAX) {
      observer = gatewayObserver.upstream(authority);
      this.upstreamObservers.set(authority, observer);
    }
    return observer;
  }

  /** Writes sent in batches so far, and the batches (metrics). */
  batchStats(): { batches: number; writes: number } {
    let batches = 0;
    let writes = 0;
    for (const batcher of this.batchers.values()) {
      batches += batcher.stats.batches;
      writes += batcher.stats.writes;
    }
    return { batches, writes };
  }

  private startUnary(authority: string, path: string, request: Buffer, options: CallOptions, onEnd: (error: GrpcStatusError | undefined, response: Buffer | undefined) => void): BatchedWrite {
    let response: Buffer | undefined;
    let ended = false;
    const sink = {
      responseStream: false,
      onMessage: (message: Buffer): void => {
        response = message;
      },
      onEnd: (error: GrpcStatusError | undefined): void => {
        ended = true;
        onEnd(error, response);
      },
    };
    const call = this.channel(authority).startCall(path, RAW_CODEC, RAW_CODEC, request, options, sink);
    return {
      cancel: (reason) => {
        if (ended) return false;
        call.cancel(reason);
        return true;
      },
    };
  }

  private batcher(authority: string): WriteBatcher {
    let batcher = this.batchers.get(authority);
    if (batcher === undefined) {
      batcher = new WriteBatcher(
        () => this.channel(authority),
        this.options.writeBatching as WriteBatchingOptions,
        (path, request, deadline, metadata, sink) => this.startUnary(authority, path, request, { deadline, metadata }, (error, response) => sink.onEnd(error, response)),
        this.options.observer,
        this.options.tracer,
      );
      this.batchers.set(authority, batcher);
    }
    return batcher;
  }

  /** Sends one server-streaming call of raw bytes (no retries: a stream is not replayed). */
  serverStreaming(authority: string, path: string, request: Buffer, options: CallOptions): AsyncIterable<Buffer> {
    return serverStreamingCall(this.channel(authority), path, RAW_STREAMING_METHOD, request, options);
  }

  /** Opens a bidirectional call of raw messages to `authority`. */
  bidiStreaming(authority: string, path: string, options: CallOptions): BidiCall<Buffer, Buffer> {
    return bidiStreamingCall(this.channel(authority), path, RAW_BIDI_METHOD, options);
  }

  /** The leader-bound calls in flight to `authority` now (to cancel later if they linger). */
  leaderBoundCalls(authority: string): UpstreamCall[] {
    return [...(this.inFlight.get(authority) ?? [])].filter((call) => call.leaderBound);
  }

  /** Cancels every call in flight (the end of a shutdown's grace period); returns how many. */
  cancelAll(reason: string): number {
    let cancelled = 0;
    for (const calls of [...this.inFlight.values()]) {
      for (const call of [...calls]) {
        if (call.cancel(reason)) cancelled += 1;
      }
    }
    return cancelled;
  }

  /** Closes (gracefully) the channels of addresses not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const [authority, channel] of this.channels) {
      if (!keep.has(authority)) {
        channel.close();
        this.channels.delete(authority);
        this.batchers.get(authority)?.close();
        this.batchers.delete(authority);
      }
    }
  }

  /** Calls in flight, per member address. */
  inFlightCounts(): Map<string, number> {
    return new Map([...this.inFlight].map(([authority, calls]) => [authority, calls.size]));
  }

  /** Closes every channel; calls in flight finish. */
  close(): void {
    this.closed = true;
    for (const channel of this.channels.values()) {
      channel.close();
    }
    this.channels.clear();
    for (const batcher of this.batchers.values()) batcher.close();
    this.batchers.clear();
  }

  private track(call: UpstreamCall): void {
    let calls = this.inFlight.get(call.authority);
    if (calls === undefined) {
      calls = new Set();
      this.inFlight.set(call.authority, calls);
    }
    calls.add(call);
  }

  private untrack(call: UpstreamCall): void {
    const calls = this.inFlight.get(call.authority);
    calls?.delete(call);
    if (calls !== undefined && calls.size === 0) {
      this.inFlight.delete(call.authority);
    }
  }
}
