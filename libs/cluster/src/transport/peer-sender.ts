/**
 * One peer's outgoing stream: queues messages, sends them in batches on one long-lived gRPC
 * stream, bounds the batches in flight by the peer's acknowledgements, and reconnects with
 * exponential backoff. While the stream is down messages are dropped (Raft retransmits) and
 * the peer is reported unreachable.
 *
 *     idle ──send──▶ connecting ──first ack or write──▶ open ──error/end──▶ backoff ──timer──▶ idle
 */
import * as grpc from '@grpc/grpc-js';
import type { Message, NodeId } from '@keyval/raft';
import { raftpb } from '@keyval/proto';
import type { PeerObserver } from '../member/member-observer';
import { messageToWire } from './message-codec';

export interface PeerSenderLimits {
  /** Messages queued for the peer beyond this are dropped (and the peer reported). */
  readonly maxQueuedMessages: number;
  /** A batch carries at most this many messages... */
  readonly maxBatchMessages: number;
  /** ...and about this many bytes of entry data. */
  readonly maxBatchBytes: number;
  /** Batches written but not acknowledged, at most. */
  readonly maxInflightBatches: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_PEER_SENDER_LIMITS: PeerSenderLimits = {
  maxQueuedMessages: 16_384,
  maxBatchMessages: 512,
  maxBatchBytes: 4 * 1024 * 1024,
  maxInflightBatches: 64,
  backoffInitialMs: 50,
  backoffMaxMs: 2_000,
};

type State = 'idle' | 'open' | 'backoff' | 'closed';

function approxBytes(m: Message): number {
  if (m.type !== 'Append') {
    return 64;
  }
  let bytes = 64;
  for (const e of m.entries) {
    bytes += e.data.byteLength + 24;
  }
  return bytes;
}

export class PeerSender {
  private queue: Message[] = [];
  private state: State = 'idle';
  private stream: grpc.ClientDuplexStream<raftpb.MessageBatch, raftpb.MessageBatchAck> | undefined;
  private sequence = 0n;
  private acked = 0n;
  private backoffMs: number;
  private flushScheduled = false;
  private writeBlocked = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly clusterId: bigint,
    private readonly from: NodeId,
    readonly to: NodeId,
    private client: raftpb.RaftTransportClient,
    private readonly limits: PeerSenderLimits,
    private readonly onUnreachable: (id: NodeId) => void,
    /** Hears about dropped messages (metrics); bytes sent are counted where batches are encoded. */
    private readonly observer?: PeerObserver,
    /** Sent with every message stream (this member's peer URLs, for a receiver that does not know it yet). */
    private readonly streamMetadata?: () => grpc.Metadata,
  ) {
    this.backoffMs = limits.backoffInitialMs;
  }

  /** Points the sender at a new address (the old stream is dropped). */
  setClient(client: raftpb.RaftTransportClient): void {
    this.resetStream();
    this.client.close();
    this.client = client;
    if (this.state !== 'closed') {
      this.state = 'idle';
    }
  }

  enqueue(message: Message): void {
    if (this.state === 'closed') {
      return;
    }
    if (this.state === 'backoff') {
      // The peer is down: drop now rather than deliver stale messages later.
      this.dropped([message]);
      return;
    }
    if (this.queue.length >= this.limits.maxQueuedMessages) {
      this.dropped(this.queue);
      this.dropped([message]);
      this.queue = [];
      this.onUnreachable(this.to);
      return;
    }
    this.queue.push(message);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.state === 'closed' || this.state === 'backoff' || this.queue.length === 0) {
      return;
    }
    if (this.stream === undefined) {
      this.open();
    }
    const stream = this.stream;
    while (stream !== undefined && !this.writeBlocked && this.queue.length > 0 && this.sequence - this.acked < BigInt(this.limits.maxInflightBatches)) {
      const batch = this.takeBatch();
      this.sequence++;
      const ok = stream.write({ clusterId: this.clusterId, from: this.from, to: this.to, sequence: this.sequence, messages: batch.map(messageToWire) });
      if (!ok) {
        this.writeBlocked = true;
        stream.once('drain', () => {
          this.writeBlocked = false;
          this.flush();
        });
      }
    }
  }

  /** Tells the observer about messages dropped unsent (and how many were heartbeats). */
  private dropped(messages: readonly Message[]): void {
    const observer = this.observer;
    if (observer === undefined || messages.length === 0) {
      return;
    }
    observer.sendFailed(messages.length);
    let heartbeats = 0;
    for (const m of messages) {
      if (m.type === 'Heartbeat') heartbeats++;
    }
    if (heartbeats > 0) {
      observer.heartbeatSendFailed(heartbeats);
    }
  }

  private takeBatch(): Message[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < this.limits.maxBatchMessages) {
      bytes += approxBytes(this.queue[count] as Message);
      count++;
      if (bytes >= this.limits.maxBatchBytes) {
        break;
      }
    }
    const batch = this.queue.slice(0, count);
    this.queue = this.queue.slice(count);
    return batch;
  }

  private open(): void {
    const stream = this.streamMetadata === undefined ? this.client.messages() : this.client.messages(this.streamMetadata());
    this.stream = stream;
    this.state = 'open';
    this.sequence = 0n;
    this.acked = 0n;
    stream.on('data', (ack: raftpb.MessageBatchAck) => {
      if (this.stream !== stream) {
        return;
      }
      if (ack.sequence > this.acked) {
        this.acked = ack.sequence;
      }
      this.backoffMs = this.limits.backoffInitialMs;
      this.flush();
    });
    const broken = (): void => {
      if (this.stream === stream) {
        this.streamBroken();
      }
    };
    stream.on('error', broken);
    stream.on('end', broken);
  }

  private streamBroken(): void {
    this.resetStream();
    if (this.state === 'closed') {
      return;
    }
    this.dropped(this.queue);
    this.queue = [];
    this.onUnreachable(this.to);
    this.state = 'backoff';
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.limits.backoffMaxMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'backoff') {
        this.state = 'idle';
        this.flush();
      }
    }, delay);
    this.timer.unref();
  }

  private resetStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    this.writeBlocked = false;
    if (stream !== undefined) {
      stream.removeAllListeners('data');
      stream.on('error', () => undefined);
      stream.cancel();
    }
  }

  close(): void {
    this.state = 'closed';
    this.queue = [];
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
    }
    this.resetStream();
    this.client.close();
  }
}
