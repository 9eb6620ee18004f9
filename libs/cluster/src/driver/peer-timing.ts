/**
 * What the driver measures about its peers: the round trip of heartbeats (for the
 * observer's metrics) and when the transport last reported each peer unreachable.
 */
import type { NodeId } from '@keyval/raft';
import type { DriverObserver } from '../member/member-observer';
import type { Clock } from './clock';

export class PeerTiming {
  /** When the oldest unanswered heartbeat to each peer was sent (clock ms); kept only with an observer. */
  private readonly heartbeatSentAtMs = new Map<NodeId, number>();
  /** When the transport last reported each peer unreachable (its stream broke), clock ms. */
  private readonly unreachableAtMs = new Map<NodeId, number>();

  constructor(
    private readonly clock: Clock,
    private readonly observer: DriverObserver | undefined,
  ) {}

  /** True when heartbeats are timed (there is an observer to tell). */
  get timesHeartbeats(): boolean {
    return this.observer !== undefined;
  }

  /** A heartbeat goes to `peer`: the first unanswered one starts the clock. */
  heartbeatSent(peer: NodeId): void {
    if (this.observer !== undefined && !this.heartbeatSentAtMs.has(peer)) {
      this.heartbeatSentAtMs.set(peer, this.clock.nowMs());
    }
  }

  /** A heartbeat response from `peer`: the round trip of the oldest heartbeat it had not answered. */
  heartbeatAnswered(peer: NodeId): void {
    const sentAt = this.heartbeatSentAtMs.get(peer);
    if (sentAt !== undefined) {
      this.heartbeatSentAtMs.delete(peer);
      this.observer?.heartbeatRoundTrip(peer, this.clock.nowMs() - sentAt);
    }
  }

  unreachable(peer: NodeId): void {
    this.unreachableAtMs.set(peer, this.clock.nowMs());
  }

  /** Milliseconds since the transport last reported `peer` unreachable (Infinity: never). */
  msSinceUnreachable(peer: NodeId): number {
    const at = this.unreachableAtMs.get(peer);
    return at === undefined ? Infinity : this.clock.nowMs() - at;
  }
}
