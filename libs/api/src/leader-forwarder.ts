/**
 * Forwards a client's write from a follower to the leader's client URL over pooled HTTP/2
 * channels, with the client's metadata (so its session still dedupes) plus a forwarded mark
 * (the leader never forwards again).
 */
import type { Context, Tracer } from '@opentelemetry/api';
import { GrpcChannel, GrpcStatus, GrpcStatusError, Metadata, createClient, endRpcSpan, startClientSpan } from '@keyval/grpc';
import type { ServiceClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { outcomeOf } from '@keyval/outcome';
import { NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { LeaderUnreachableError } from './api.errors';
import { FORWARDED_KEY } from './kv-service';

export interface LeaderLocator {
  /** The client URLs the cluster knows for a member (empty until it published them). */
  clientUrlsOf(id: NodeId): readonly string[];
}

/** Keys that belong to one hop and must not be copied (the trace context is this hop's own span's). */
const HOP_KEYS = new Set(['grpc-timeout', 'content-type', 'te', 'user-agent', 'grpc-accept-encoding', 'grpc-encoding', 'traceparent', 'tracestate']);

export class LeaderForwarder {
  private readonly channels = new Map<string, GrpcChannel>();

  constructor(
    private readonly locator: LeaderLocator,
    private readonly maxMessageBytes: number,
    /** Traces each forward as a CLIENT span (child of the call's span), its context sent to the leader. Default: none. */
    private readonly tracer?: Tracer,
  ) {}

  private channel(url: string): GrpcChannel {
    let channel = this.channels.get(url);
    if (channel === undefined) {
      channel = new GrpcChannel(url, { maxReceiveMessageBytes: this.maxMessageBytes, maxSendMessageBytes: this.maxMessageBytes });
      this.channels.set(url, channel);
    }
    return channel;
  }

  /** Sends the call to `leader`; with tracing, its CLIENT span is a child of `trace` (the call's own span). */
  async forward(method: 'put' | 'deleteRange' | 'txn', request: unknown, metadata: Metadata, leader: NodeId, deadlineMs: number, trace?: Context): Promise<unknown> {
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
    const span = this.tracer === undefined ? undefined : startClientSpan(this.tracer, `/${etcd.KVDefinition.fullName}/${METHOD_NAMES[method]}`, md, { 'keyval.leader': leader.toString(16), 'server.address': url }, trace);
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
      // @keyval/grpc marks what never reached the leader (no connection established, or the
      // stream refused unprocessed); a connection lost after the request went out may have
      // applied it, and is relayed as it is.
      if (outcomeOf(error).outcome === 'never-sent') {
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
