/**
 * The peer transport over gRPC (`keyval.raft.v1.RaftTransport`): a server that accepts each
 * peer's message stream and snapshot transfers, and a PeerSender per peer for outgoing
 * messages. A stream from another cluster (cluster id) or meant for another member is refused.
 */
import type { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { crc32c } from '@node-rs/crc32';
import type { Message, NodeId, SnapshotMeta, Term } from '@keyval/raft';
import { raftpb } from '@keyval/proto';
import type { PeerObserver, TransportObserver } from '../member/member-observer';
import { MalformedMessageError, messageFromWire, snapshotMetaFromWire, snapshotMetaToWire } from './message-codec';
import { DEFAULT_PEER_SENDER_LIMITS, PeerSender } from './peer-sender';
import type { PeerSenderLimits } from './peer-sender';
import { type PeerTls, peerChannelCredentials, peerServerCredentials } from './peer-credentials';
import { PEER_URLS_METADATA, senderPeerUrl } from './peer-urls';
import { TransportClosedError, UnknownPeerError, peerTarget } from './transport';
import type { MemberAttributes, PeerTransport, SnapshotChunkIn, SnapshotOffer, SnapshotSource, TransportReceiver } from './transport';

export interface GrpcTransportOptions {
  readonly clusterId: bigint;
  readonly self: NodeId;
  readonly receiver: TransportReceiver;
  readonly limits?: Partial<PeerSenderLimits>;
  /** Largest gRPC message accepted (a batch or a snapshot chunk). Default 64 MiB. */
  readonly maxMessageBytes?: number;
  /** Snapshot bytes sent ahead of the receiver's acknowledgements. Default 16 MiB. */
  readonly snapshotWindowBytes?: number;
  /** Mutual TLS with https:// peer URLs (and on our peer port). */
  readonly tls?: PeerTls;
  /** Hears about bytes sent and received and messages dropped, per peer (metrics). Default: none. */
  readonly observer?: TransportObserver;
  /**
   * This member's peer URLs, sent with every message stream (as etcd's X-PeerURLs header). A
   * receiver that does not know this member yet (it was down while this one was added, and the
   * change reached it only inside a snapshot it cannot ask for) answers it there.
   */
  readonly advertisePeerUrls?: readonly string[];
  /** Hears that a remote was learned from a sender's stream (to log it). */
  readonly onRemoteLearned?: (id: NodeId, url: string) => void;
}


type RaftTransportClientClass = typeof raftpb.RaftTransportClient;

/**
 * A RaftTransport client class whose message batches and snapshot chunks report their encoded
 * size to `peer` as grpc-js serializes them (no second encoding to measure them).
 */
function countingClientClass(peer: PeerObserver): RaftTransportClientClass {
  const base = raftpb.RaftTransportService;
  const counted = <M extends { readonly requestSerialize: (value: never) => Buffer }>(method: M): M => {
    const serialize = method.requestSerialize as (value: unknown) => Buffer;
    const requestSerialize = (value: unknown): Buffer => {
      const bytes = serialize(value);
      peer.sent(bytes.length);
      return bytes;
    };
    return { ...method, requestSerialize };
  };
  const service = { ...base, messages: counted(base.messages), installSnapshot: counted(base.installSnapshot) };
  return grpc.makeGenericClientConstructor(service, 'keyval.raft.v1.RaftTransport') as unknown as RaftTransportClientClass;
}

/** Batches received before an acknowledgement is sent at once. */
const ACK_EVERY_BATCHES = 16n;
/**
 * Longest an acknowledgement waits for more batches, ms. The sender's window
 * (maxInflightBatches, 64) is four times ACK_EVERY_BATCHES, so under load the count sends
 * acknowledgements long before the window fills; the delay only matters at low rates, where
 * a short one cost an ack message (and a wake-up on both members) for every heartbeat.
 */
const ACK_DELAY_MS = 200;

type MessagesCall = grpc.ServerDuplexStream<raftpb.MessageBatch, raftpb.MessageBatchAck>;
type SnapshotCall = grpc.ServerDuplexStream<raftpb.InstallSnapshotRequest, raftpb.InstallSnapshotResponse>;

function refuse(call: grpc.ServerDuplexStream<unknown, unknown>, code: grpc.status, details: string): void {
  call.emit('error', { code, details, metadata: new grpc.Metadata() });
}

export class GrpcPeerTransport implements PeerTransport {
  private readonly server: grpc.Server;
  private readonly peers = new Map<NodeId, { url: string; sender: PeerSender }>();
  private readonly unreachableListeners: ((id: NodeId) => void)[] = [];
  private readonly limits: PeerSenderLimits;
  private readonly maxMessageBytes: number;
  private readonly snapshotWindowBytes: number;
  /** With an observer: each peer's observer and counting client class, made once per peer. */
  private readonly observed = new Map<NodeId, { observer: PeerObserver; clientClass: RaftTransportClientClass }>();
  private closed = false;

  constructor(private readonly options: GrpcTransportOptions) {
    this.limits = { ...DEFAULT_PEER_SENDER_LIMITS, ...options.limits };
    this.maxMessageBytes = options.maxMessageBytes ?? 64 * 1024 * 1024;
    this.snapshotWindowBytes = options.snapshotWindowBytes ?? 16 * 1024 * 1024;
    this.server = new grpc.Server({ 'grpc.max_receive_message_length': this.maxMessageBytes, 'grpc.max_send_message_length': this.maxMessageBytes });
    this.server.addService(this.receivingService(), {
      messages: (call: MessagesCall) => this.serveMessages(call),
      installSnapshot: (call: SnapshotCall) => void this.serveSnapshot(call),
      publishAttributes: (call: grpc.ServerUnaryCall<raftpb.PublishAttributesRequest, raftpb.PublishAttributesResponse>, callback: grpc.sendUnaryData<raftpb.PublishAttributesResponse>) =>
        void this.servePublishAttributes(call.request, callback),
    });
  }

  /** The service definition served: with an observer, received batches are counted per sender as they are decoded. */
  private receivingService(): grpc.ServiceDefinition {
    const base = raftpb.RaftTransportService;
    if (this.options.observer === undefined) {
      return base;
    }
    return {
      ...base,
      messages: {
        ...base.messages,
        requestDeserialize: (bytes: Buffer): raftpb.MessageBatch => {
          const batch = base.messages.requestDeserialize(bytes);
          this.peerObserver(batch.from as NodeId)?.observer.received(bytes.length);
          return batch;
        },
      },
    };
  }

  /** The observer of `peer` (made on first use), or undefined without a transport observer. */
  private peerObserver(peer: NodeId): { observer: PeerObserver; clientClass: RaftTransportClientClass } | undefined {
    const transportObserver = this.options.observer;
    if (transportObserver === undefined) {
      return undefined;
    }
    let observed = this.observed.get(peer);
    if (observed === undefined) {
      const observer = transportObserver.peer(peer);
      observed = { observer, clientClass: countingClientClass(observer) };
      this.observed.set(peer, observed);
    }
    return observed;
  }

  /** Serves another gRPC service on the peer port (before listen), e.g. the member list for joiners. */
  addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    this.server.addService(service, implementation);
  }

  /** Listens on host:port (port 0 picks one); resolves with the bound port. */
  listen(hostPort: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(hostPort, peerServerCredentials(this.options.tls), (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  private newClient(url: string, peer?: NodeId): raftpb.RaftTransportClient {
    const ClientClass = (peer === undefined ? undefined : this.peerObserver(peer)?.clientClass) ?? raftpb.RaftTransportClient;
    return new ClientClass(peerTarget(url), peerChannelCredentials(url, this.options.tls), {
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.initial_reconnect_backoff_ms': 50,
      'grpc.max_reconnect_backoff_ms': 1_000,
    });
  }

  setPeer(id: NodeId, url: string): void {
    if (id === this.options.self || this.closed) {
      return;
    }
    const existing = this.peers.get(id);
    if (existing !== undefined) {
      if (existing.url !== url) {
        existing.sender.setClient(this.newClient(url, id));
        existing.url = url;
      }
      return;
    }
    const urls = this.options.advertisePeerUrls ?? [];
    const metadata =
      urls.length === 0
        ? undefined
        : (): grpc.Metadata => {
            const m = new grpc.Metadata();
            m.set(PEER_URLS_METADATA, urls.join(','));
            return m;
          };
    const sender = new PeerSender(this.options.clusterId, this.options.self, id, this.newClient(url, id), this.limits, (peer) => this.reportUnreachable(peer), this.peerObserver(id)?.observer, metadata);
    this.peers.set(id, { url, sender });
  }

  removePeer(id: NodeId): void {
    this.peers.get(id)?.sender.close();
    this.peers.delete(id);
  }

  /** The peers the transport can send to (members, and remotes learned from their streams). */
  peerIds(): NodeId[] {
    return [...this.peers.keys()];
  }

  /**
   * A sender this member has no address for told its own (on its stream): use it to answer,
   * as etcd's AddRemote does, until the membership (applied later) names the peer.
   */
  private learnRemote(from: NodeId, url: string | undefined): void {
    if (url === undefined || from === this.options.self || this.closed || this.peers.has(from)) return;
    this.setPeer(from, url);
    this.options.onRemoteLearned?.(from, url);
  }

  onUnreachable(listener: (id: NodeId) => void): void {
    this.unreachableListeners.push(listener);
  }

  private reportUnreachable(id: NodeId): void {
    for (const listener of this.unreachableListeners) {
      listener(id);
    }
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const peer = this.peers.get(m.to);
      if (peer !== undefined) {
        peer.sender.enqueue(m);
      }
    }
  }

  private serveMessages(call: MessagesCall): void {
    const senderUrl = senderPeerUrl(call.metadata.get(PEER_URLS_METADATA).map(String).join(','));
    // Acknowledge in bulk: at least every ACK_EVERY_BATCHES batches, and within ACK_DELAY_MS
    // of the first unacknowledged one, so the sender's window (maxInflightBatches) keeps
    // moving without an ack write per batch.
    let acked = 0n;
    let lastSequence = 0n;
    let timer: NodeJS.Timeout | undefined;
    const ack = (): void => {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (lastSequence > acked && !call.destroyed && call.writable) {
        acked = lastSequence;
        call.write({ sequence: lastSequence });
      }
    };
    call.on('data', (batch: raftpb.MessageBatch) => {
      if (batch.clusterId !== this.options.clusterId) {
        refuse(call, grpc.status.FAILED_PRECONDITION, `cluster id mismatch: this member is in cluster ${this.options.clusterId.toString(16)}, the sender in ${batch.clusterId.toString(16)}`);
        return;
      }
      if (batch.to !== this.options.self) {
        refuse(call, grpc.status.NOT_FOUND, `this member is ${this.options.self.toString(16)}, not ${batch.to.toString(16)}`);
        return;
      }
      let messages: Message[];
      try {
        messages = batch.messages.map((w) => messageFromWire(w, batch.from as NodeId, batch.to as NodeId));
      } catch (error) {
        refuse(call, grpc.status.INVALID_ARGUMENT, error instanceof MalformedMessageError ? error.message : String(error));
        return;
      }
      this.learnRemote(batch.from as NodeId, senderUrl);
      this.options.receiver.deliver(messages);
      lastSequence = batch.sequence;
      if (lastSequence - acked >= ACK_EVERY_BATCHES) {
        ack();
      } else if (timer === undefined) {
        timer = setTimeout(ack, ACK_DELAY_MS);
      }
    });
    call.on('end', () => {
      ack();
      call.end();
    });
    call.on('error', () => {
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  private async serveSnapshot(call: SnapshotCall): Promise<void> {
    call.on('error', () => undefined);
    // Not the default iterator: it destroys the stream once the client half-closes, and the
    // answer (done, or an error status) must still go out after that.
    const iterator = (call as unknown as Readable).iterator({ destroyOnReturn: false }) as AsyncIterator<raftpb.InstallSnapshotRequest>;
    try {
      const first = await iterator.next();
      const part = first.done === true ? undefined : first.value.part;
      if (part?.$case !== 'header') {
        refuse(call, grpc.status.INVALID_ARGUMENT, 'a snapshot transfer must start with its header');
        return;
      }
      const header = part.value;
      if (header.clusterId !== this.options.clusterId || header.to !== this.options.self) {
        refuse(call, grpc.status.FAILED_PRECONDITION, 'snapshot for another cluster or member');
        return;
      }
      const offer: SnapshotOffer = {
        from: header.from as NodeId,
        term: Number(header.term) as Term,
        meta: snapshotMetaFromWire(header.meta),
        totalBytes: Number(header.totalBytes),
        crc32c: header.crc32c,
      };
      const chunks: AsyncIterable<SnapshotChunkIn> = {
        [Symbol.asyncIterator]: () => ({
          next: async (): Promise<IteratorResult<SnapshotChunkIn>> => {
            const r = await iterator.next();
            if (r.done === true) {
              return { done: true, value: undefined };
            }
            if (r.value.part?.$case !== 'chunk') {
              throw new MalformedMessageError('a second snapshot header');
            }
            const c = r.value.part.value;
            return { done: false, value: { offset: Number(c.offset), data: c.data, crc32c: c.crc32c } };
          },
        }),
      };
      await this.options.receiver.receiveSnapshot(offer, chunks, (receivedBytes) => {
        if (call.writable) {
          call.write({ receivedBytes: BigInt(receivedBytes), done: false });
        }
      });
      call.write({ receivedBytes: header.totalBytes, done: true });
      call.end();
    } catch (error) {
      refuse(call, grpc.status.ABORTED, `snapshot transfer failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async servePublishAttributes(request: raftpb.PublishAttributesRequest, callback: grpc.sendUnaryData<raftpb.PublishAttributesResponse>): Promise<void> {
    const handler = this.options.receiver.publishAttributes;
    if (request.clusterId !== this.options.clusterId) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: 'cluster id mismatch' });
      return;
    }
    if (handler === undefined) {
      callback({ code: grpc.status.UNIMPLEMENTED, details: 'this member does not record attributes' });
      return;
    }
    try {
      await handler.call(this.options.receiver, { id: request.memberId as NodeId, name: request.name, clientUrls: request.clientUrls });
      callback(null, {});
    } catch (error) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Asks peer `to` (the leader) to record this member's attributes. */
  async publishAttributes(to: NodeId, attributes: MemberAttributes, timeoutMs: number): Promise<void> {
    const peer = this.peers.get(to);
    if (peer === undefined) {
      throw new UnknownPeerError(to);
    }
    const client = this.newClient(peer.url);
    try {
      await new Promise<void>((resolve, reject) => {
        const request = { clusterId: this.options.clusterId, memberId: attributes.id, name: attributes.name, clientUrls: [...attributes.clientUrls] };
        client.publishAttributes(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error) => (error === null ? resolve() : reject(error)));
      });
    } finally {
      client.close();
    }
  }

  async sendSnapshot(to: NodeId, term: Term, meta: SnapshotMeta, source: SnapshotSource, signal?: AbortSignal): Promise<void> {
    if (this.closed) {
      throw new TransportClosedError();
    }
    const peer = this.peers.get(to);
    if (peer === undefined) {
      throw new UnknownPeerError(to);
    }
    const client = this.newClient(peer.url, to);
    try {
      await this.streamSnapshot(client, to, term, meta, source, signal);
    } finally {
      client.close();
    }
  }

  private streamSnapshot(client: raftpb.RaftTransportClient, to: NodeId, term: Term, meta: SnapshotMeta, source: SnapshotSource, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const call = client.installSnapshot();
      let acked = 0;
      let done = false;
      let wake: (() => void) | undefined;
      const fail = (error: Error): void => {
        if (!done) {
          done = true;
          call.cancel();
          reject(error);
        }
        wake?.();
      };
      signal?.addEventListener('abort', () => fail(new Error('snapshot transfer aborted')), { once: true });
      call.on('data', (r: raftpb.InstallSnapshotResponse) => {
        acked = Number(r.receivedBytes);
        if (r.done && !done) {
          done = true;
          resolve();
        }
        wake?.();
      });
      call.on('error', (e: Error) => fail(e));
      call.on('end', () => fail(new Error(`peer ${to} ended the snapshot transfer before installing it`)));
      const pump = async (): Promise<void> => {
        call.write({ part: { $case: 'header', value: { clusterId: this.options.clusterId, from: this.options.self, to, term: BigInt(term), meta: snapshotMetaToWire(meta), totalBytes: BigInt(source.totalBytes), crc32c: source.crc32c } } });
        let offset = 0;
        for await (const data of source.chunks()) {
          while (!done && offset - acked >= this.snapshotWindowBytes) {
            await new Promise<void>((w) => (wake = w));
          }
          if (done) {
            return;
          }
          const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
          call.write({ part: { $case: 'chunk', value: { offset: BigInt(offset), data: buffer, crc32c: crc32c(buffer) } } });
          offset += data.byteLength;
        }
        call.end();
      };
      pump().catch((e: unknown) => fail(e instanceof Error ? e : new Error(String(e))));
    });
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    for (const { sender } of this.peers.values()) {
      sender.close();
    }
    this.peers.clear();
    await new Promise<void>((resolve) => {
      this.server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1_000).unref();
    });
  }
}
