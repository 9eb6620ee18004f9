/**
 * An in-process transport for tests: members registered on one MemoryNetwork exchange
 * messages through setImmediate (asynchronously, in order), and can be cut off from each other.
 */
import { crc32c } from '@node-rs/crc32';
import type { Message, NodeId, SnapshotMeta, Term } from '@keyval/raft';
import { UnknownPeerError } from './transport';
import type { PeerTransport, SnapshotChunkIn, SnapshotSource, TransportReceiver } from './transport';

export class MemoryNetwork {
  private readonly receivers = new Map<NodeId, TransportReceiver>();
  private readonly cut = new Set<string>();

  transport(self: NodeId, receiver: TransportReceiver): MemoryTransport {
    this.receivers.set(self, receiver);
    return new MemoryTransport(this, self);
  }

  unregister(self: NodeId): void {
    this.receivers.delete(self);
  }

  /** Drops all traffic between `a` and `b` (both ways) until healed. */
  partition(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`).add(`${b}>${a}`);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    for (const other of this.receivers.keys()) {
      if (other !== id) {
        this.partition(id, other);
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Snapshot transfers to fail mid-stream before one gets through (tests of retries). */
  failSnapshotTransfers = 0;
  /** Snapshot transfers started, for assertions. */
  snapshotTransfersStarted = 0;

  /** The receiver for a message from `from` to `to`, or undefined when it cannot get through. */
  route(from: NodeId, to: NodeId): TransportReceiver | undefined {
    return this.cut.has(`${from}>${to}`) ? undefined : this.receivers.get(to);
  }
}

export class MemoryTransport implements PeerTransport {
  private readonly peers = new Set<NodeId>();
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    private readonly self: NodeId,
  ) {}

  send(messages: readonly Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      if (this.peers.has(m.to)) {
        const list = byPeer.get(m.to) ?? [];
        list.push(m);
        byPeer.set(m.to, list);
      }
    }
    for (const [to, batch] of byPeer) {
      setImmediate(() => {
        if (!this.closed) {
          this.network.route(this.self, to)?.deliver(batch);
        }
      });
    }
  }

  setPeer(id: NodeId, _url: string): void {
    if (id !== this.self) {
      this.peers.add(id);
    }
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
  }

  async sendSnapshot(to: NodeId, term: Term, meta: SnapshotMeta, source: SnapshotSource): Promise<void> {
    const receiver = this.network.route(this.self, to);
    if (!this.peers.has(to) || receiver === undefined) {
      throw new UnknownPeerError(to);
    }
    const offset = { value: 0 };
    const network = this.network;
    network.snapshotTransfersStarted++;
    const interrupt = network.failSnapshotTransfers > 0;
    if (interrupt) {
      network.failSnapshotTransfers--;
    }
    async function* chunks(): AsyncIterable<SnapshotChunkIn> {
      for await (const data of source.chunks()) {
        if (interrupt && offset.value > 0) {
          throw new Error('the connection broke in the middle of the snapshot');
        }
        yield { offset: offset.value, data, crc32c: crc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) };
        offset.value += data.byteLength;
      }
    }
    await receiver.receiveSnapshot({ from: this.self, term, meta, totalBytes: source.totalBytes, crc32c: source.crc32c }, chunks(), () => undefined);
  }

  onUnreachable(_listener: (id: NodeId) => void): void {
    // Messages to an unreachable member are silently lost; Raft copes.
  }

  async close(): Promise<void> {
    this.closed = true;
    this.network.unregister(this.self);
  }
}
