/**
 * Forwards a client's write from a follower to the leader's client URL over pooled HTTP/2
 * channels, with the client's metadata (so its session still dedupes) plus a forwarded mark
 * (the leader never forwards again).
 */
import { GrpcChannel, GrpcStatus, GrpcStatusError, Metadata, createClient } from '@keyval/grpc';
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

/** Keys that belong to one hop and must not be copied. */
const HOP_KEYS = new Set(['grpc-timeout', 'content-type', 'te', 'user-agent', 'grpc-accept-encoding', 'grpc-encoding']);

export class LeaderForwarder {
  private readonly channels = new Map<string, GrpcChannel>();

  constructor(
    private readonly locator: LeaderLocator,
    private readonly maxMessageBytes: number,
  ) {}

  private channel(url: string): GrpcChannel {
    let channel = this.channels.get(url);
    if (channel === undefined) {
      channel = new GrpcChannel(url, { maxReceiveMessageBytes: this.maxMessageBytes, maxSendMessageBytes: this.maxMessageBytes });
      this.channels.set(url, channel);
    }
    return channel;
  }

  async forward(method: 'put' | 'deleteRange' | 'txn' | 'compact', request: unknown, metadata: Metadata, leader: NodeId, deadlineMs: number): Promise<unknown> {
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
    try {
      switch (method) {
        case 'put':
          return await client.put(request as etcd.PutRequest, options);
        case 'deleteRange':
          return await client.deleteRange(request as etcd.DeleteRangeRequest, options);
        case 'txn':
          return await client.txn(request as etcd.TxnRequest, options);
        case 'compact':
          return await client.compact(request as etcd.CompactionRequest, options);
      }
    } catch (error) {
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
