/**
 * Forwards a client's write from a follower to the leader's client URL over pooled HTTP/2
 * channels, with the client's metadata (so its session still dedupes) plus a forwarded mark
 * (the leader never forwards again).
 */
import { GrpcChannel, Metadata, createClient } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import { FORWARDED_KEY } from './kv-service';

export interface LeaderLocator {
  /** The client URLs the cluster knows for a member (empty until it published them). */
  clientUrlsOf(id: NodeId): readonly string[];
}

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
    switch (method) {
      case 'put':
        return client.put(request as etcd.PutRequest, options);
      case 'deleteRange':
        return client.deleteRange(request as etcd.DeleteRangeRequest, options);
      case 'txn':
        return client.txn(request as etcd.TxnRequest, options);
    }
  }

  close(): void {
    for (const channel of this.channels.values()) channel.close();
    this.channels.clear();
  }
}
