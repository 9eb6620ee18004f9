/**
 * The hooks through which a member reports what it does, for metrics (`@keyval/metrics`
 * implements them with etcd's and KeyVal's Prometheus families). Each hook is a plain method
 * call at the point where the thing happens; none may throw or block, and the ones on the
 * write path (marked) must not allocate. Without an observer (the default) nothing is called.
 *
 *     KvMember.open({ observer }) ─┬─ driver    ─► RaftDriver (proposals, apply, reads, snapshots, heartbeats)
 *                                  ├─ transport ─► GrpcPeerTransport / PeerSender (bytes, failures per peer)
 *                                  ├─ wal       ─► WalLogStore (write bytes, fdatasync time)
 *                                  ├─ backend   ─► RocksStateMachine (write-batch commit time)
 *                                  └─ snapshots ─► SnapshotAdapter (created, received)
 *
 * Values that are a state rather than an event (leader, indexes, pending proposals, disk
 * size, follower lag) are not pushed: the observer reads them from the member when scraped.
 */
import type { NodeId, ReadMode } from '@keyval/raft';
import type { WalObserver } from '@keyval/storage';
import type { BackendObserver } from '@keyval/statemachine';

export interface DriverObserver {
  /** Write path. One of this leader's proposals committed, `latencyMs` after it was proposed. */
  proposalCommitted(latencyMs: number): void;
  /** Proposals that failed: refused at once, timed out, lost to a new leader, or failed by a stop or a full disk. */
  proposalsFailed(count: number): void;
  /** Write path. One batch of `entries` committed entries was applied in `durationMs`. */
  applied(entries: number, durationMs: number): void;
  /** Write path (reads). A linearizable read asked for a barrier. */
  readBarrier(mode: ReadMode): void;
  /** A heartbeat to `peer` was answered `roundTripMs` after it was sent. */
  heartbeatRoundTrip(peer: NodeId, roundTripMs: number): void;
  /** A snapshot transfer to a follower ended: `ok`, its size and how long it took. */
  snapshotSent(ok: boolean, bytes: number, durationMs: number): void;
}

/** What the transport reports about one peer; obtained once per peer. */
export interface PeerObserver {
  /** Write path. Bytes of one message batch (or snapshot chunk) handed to the peer's stream. */
  sent(bytes: number): void;
  /** Write path. Bytes of one message batch received from the peer. */
  received(bytes: number): void;
  /** Messages to the peer dropped without being sent (stream down, queue full). */
  sendFailed(messages: number): void;
  /** Of those, heartbeats (etcd's `etcd_server_heartbeat_send_failures_total`). */
  heartbeatSendFailed(count: number): void;
}

export interface TransportObserver {
  /** The observer of `peer`'s traffic, asked once when the peer is first seen. */
  peer(peer: NodeId): PeerObserver;
}

export interface SnapshotObserver {
  /** A snapshot of the state machine was written: how long it took and its size. */
  created(durationMs: number, bytes: number): void;
  /** A snapshot transfer from the leader ended: `ok` (stored and verified) or not, and the bytes received. */
  received(ok: boolean, bytes: number): void;
}

/** Everything a member reports; see the file comment. */
export interface MemberObserver {
  readonly driver: DriverObserver;
  readonly transport: TransportObserver;
  readonly wal: WalObserver;
  readonly backend: BackendObserver;
  readonly snapshots: SnapshotObserver;
  /** Write path. Writes answered from a client session's memory instead of being applied again (deduplicated retries). */
  replayedWrites(count: number): void;
}
