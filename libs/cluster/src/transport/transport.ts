/**
 * The peer transport contract: how a member's driver exchanges Raft messages and snapshots
 * with its peers. Delivery is best effort (Raft tolerates loss, duplication and reordering);
 * messages from one peer arrive in the order it sent them while a stream lasts.
 *
 *     driver ──send(msgs)──▶ PeerTransport ══ one long-lived stream per peer, batches ══▶ peer
 *     driver ◀──deliver(msgs)── PeerTransport ◀══════════════════════════════════════════ peer
 *     driver ──sendSnapshot(to, meta, source)──▶ chunked stream with flow control ──▶ peer
 */
import type { Message, NodeId, SnapshotMeta, Term } from '@keyval/raft';

/** An incoming snapshot transfer's header. */
export interface SnapshotOffer {
  readonly from: NodeId;
  readonly term: Term;
  readonly meta: SnapshotMeta;
  readonly totalBytes: number;
  /** CRC-32C of the whole file. */
  readonly crc32c: number;
}

export interface SnapshotChunkIn {
  readonly offset: number;
  readonly data: Uint8Array;
  /** CRC-32C of `data`, as the sender computed it. */
  readonly crc32c: number;
}

/** What the transport hands to its member. */
export interface TransportReceiver {
  /** Messages from one batch of one peer, in order. */
  deliver(messages: readonly Message[]): void;
  /**
   * An incoming snapshot. Resolves once the snapshot is stored, verified and stepped into the
   * core; rejects to abort the transfer (the sender retries from the start). `progress`
   * reports the bytes durably written, which paces the sender.
   */
  receiveSnapshot(offer: SnapshotOffer, chunks: AsyncIterable<SnapshotChunkIn>, progress: (receivedBytes: number) => void): Promise<void>;
  /**
   * A peer asks this member (as leader) to record its name and client URLs. Resolves once
   * recorded; rejects (e.g. NotLeaderError) otherwise. Optional: members without it refuse.
   */
  publishAttributes?(attributes: MemberAttributes): Promise<void>;
}

export interface MemberAttributes {
  readonly id: NodeId;
  readonly name: string;
  readonly clientUrls: readonly string[];
}

/** A snapshot to send: its size, whole-file checksum and data in chunks. */
export interface SnapshotSource {
  readonly totalBytes: number;
  readonly crc32c: number;
  chunks(): AsyncIterable<Uint8Array>;
}

export interface PeerTransport {
  /** Queues messages for their peers (by `to`); never blocks. Unknown peers are dropped. */
  send(messages: readonly Message[]): void;
  /** Adds or updates a peer's address (a URL such as http://10.0.0.2:2380). */
  setPeer(id: NodeId, url: string): void;
  removePeer(id: NodeId): void;
  /** Streams a snapshot to `to`; resolves when the peer has installed it. */
  sendSnapshot(to: NodeId, term: Term, meta: SnapshotMeta, source: SnapshotSource, signal?: AbortSignal): Promise<void>;
  /** Called when a peer cannot be reached (the driver tells the core). */
  onUnreachable(listener: (id: NodeId) => void): void;
  close(): Promise<void>;
}

export class TransportClosedError extends Error {
  constructor() {
    super('the peer transport is closed');
    this.name = 'TransportClosedError';
  }
}

export class UnknownPeerError extends Error {
  constructor(readonly id: NodeId) {
    super(`no address is known for peer ${id}`);
    this.name = 'UnknownPeerError';
  }
}

/** Turns a peer URL (http://host:port, https://host:port, or host:port) into a gRPC target (host:port); TLS is the credentials' business. */
export function peerTarget(url: string): string {
  const trimmed = url.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    const parsed = new URL(trimmed);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:' && parsed.protocol !== 'grpc:') {
      throw new Error(`peer url ${url}: only http:// and https:// are supported`);
    }
    if (parsed.port === '') {
      throw new Error(`peer url ${url} has no port`);
    }
    return `${parsed.hostname}:${parsed.port}`;
  }
  if (!/^[^:/]+:\d+$/.test(trimmed) && !/^\[[0-9a-f:]+\]:\d+$/i.test(trimmed)) {
    throw new Error(`peer url ${url} is not host:port or http://host:port`);
  }
  return trimmed;
}
