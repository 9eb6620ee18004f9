/**
 * Forwards a client's write from a follower to the leader's client URL over pooled HTTP/2
 * channels, with the client's metadata (so its session still dedupes) plus a forwarded mark
 * (the leader never forwards again).
 */
import type { Tracer } from '@opentelemetry/api';
import { type ClientTlsOptions, GrpcChannel, GrpcStatus, GrpcStatusError, Metadata, createClient, endRpcSpan, startClientSpan } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { LeaderUnreachableError } from './api.errors';
import { FORWARDED_KEY } from './kv-service';

export interface LeaderLocator {
  /** The client URLs the cluster knows for a member (empty until it published them). */
  clientUrlsOf(id: NodeId): readonly string[];
}

/**
 * UNAVAILABLE details of @keyval/grpc that prove the request never reached the leader: the TCP
 * connection was refused or not established in time, or the server refused the HTTP/2 stream
 * (REFUSED_STREAM: not processed). A connection lost after the request went out is not here:
 * that request may have been applied.
 */
const NEVER_SENT = /: connect ECONNREFUSED |: no connection to \S+ within \d+ ms$| refused the call \(it may be shutting down\)$/;

/** Keys that belong to one hop and must not be copied (the trace context is this hop's own span's). */
const HOP_KEYS = new Set(['grpc-timeout', 'content-type', 'te', 'user-agent', 'grpc-accept-encoding', 'grpc-encoding', 'traceparent', 'tracestate']);

export interface LeaderForwarderOptions {
  /** TLS towards a client URL (https://: this member's client certificate), or undefined for h2c. Default: h2c everywhere. */
  readonly tlsFor?: (url: string) => ClientTlsOptions | undefined;
  /** Traces each forward as a CLIENT span (child of the active span), its context sent to the leader. Default: none. */
  readonly tracer?: Tracer;
}

export class LeaderForwarder {
  private readonly channels = new Map<string, GrpcChannel>();

  constructor(
    private readonly locator: LeaderLocator,
    private readonly maxMessageBytes: number,
    private readonly options: LeaderForwarderOptions = {},
  ) {}

  private channel(url: string): GrpcChannel {
    let channel = this.channels.get(url);
    if (channel === undefined) {
      channel = new GrpcChannel(url, { maxReceiveMessageBytes: this.maxMessageBytes, maxSendMessageBytes: this.maxMessageBytes, tls: this.options.tlsFor?.(url) });
      this.channels.set(url, channel);
    }
    return channel;
  }

  async forward(method: 'put' | 'deleteRange' | 'txn', request: unknown, metadata: Metadata, leader: NodeId, deadlineMs: number): Promise<unknown> {
    const url = this.locator.clientUrlsOf(leader)[0];
    if (url === undefined) {
      // The leader has not published its client URL yet: behave as if no leader is usable.
      throw new NotLeaderError(leader);
    }
    const md = new Metadata();
    for (const key of metadata.keys()) {
      if (!HOP_KEYS.has(key) && !key.startsWith(':')) {
        for (const value of metadata.getAll(key)) md.add(key, value);
      }
    }
    md.set(FORWARDED_KEY, '1');
    const client = createClient(etcd.KVDefinition, this.channel(url));
    const options = { timeoutMs: Math.max(1, Math.floor(deadlineMs - performance.now())), metadata: md };
    const span = this.options.tracer === undefined ? undefined : startClientSpan(this.options.tracer, `/${etcd.KVDefinition.fullName}/${METHOD_NAMES[method]}`, md, { 'keyval.leader': leader.toString(16), 'server.address': url });
    try {
      const response = await call(client, method, request, options);
      if (span !== undefined) endRpcSpan(span, GrpcStatus.OK);
      return response;
    } catch (error) {
      if (span !== undefined) {
        endRpcSpan(span, error instanceof GrpcStatusError ? error.code : GrpcStatus.UNKNOWN, error instanceof Error ? error.message : String(error));
      }
      // A dead leader refuses connections until the followers elect another: say so with a
      // named error, so the service waits for the new leader instead of failing the client.
      if (error instanceof GrpcStatusError && error.code === GrpcStatus.UNAVAILABLE && NEVER_SENT.test(error.details)) {
        throw new LeaderUnreachableError(leader.toString(16), url, error);
      }
      throw error;
    }
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}

const METHOD_NAMES = { put: 'Put', deleteRange: 'DeleteRange', txn: 'Txn' } as const;

function call(client: ServiceClient<typeof etcd.KVDefinition>, method: 'put' | 'deleteRange' | 'txn', request: unknown, options: { timeoutMs: number; metadata: Metadata }): Promise<unknown> {
  switch (method) {
    case 'put':
      return client.put(request as etcd.PutRequest, options);
    case 'deleteRange':
      return client.deleteRange(request as etcd.DeleteRangeRequest, options);
    case 'txn':
      return client.txn(request as etcd.TxnRequest, options);
  }
}
