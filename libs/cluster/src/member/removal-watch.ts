/**
 * How a removed member learns that it was removed. A configuration takes effect when it is
 * appended (§4.1), so the leader stops replicating to a member as soon as it appends that
 * member's removal: the removed member usually never receives (let alone applies) the entry,
 * and would otherwise linger without a leader, campaigning in vain (pre-vote keeps it from
 * disrupting anyone). etcd has its peers reject a removed member's traffic; we ask the peers.
 *
 *     no leader for `leaderlessMs` ─▶ ask every other known member (peer port, MemberList)
 *        ─▶ a majority of them, in our cluster, list the members without us ─▶ onRemoved()
 *        ─▶ otherwise (any lists us, too few answer) ─▶ keep waiting, ask again later
 *
 * A majority of the other members is required so that one lagging or confused peer cannot
 * make a member stop: the members that committed our addition have applied it by the time we
 * have gone `leaderlessMs` without a leader, so they list us unless we were removed.
 */
import type { NodeId } from '@keyval/raft';
import type { DriverLogger } from '../driver/raft-driver';

export interface RemovalWatchHost {
  readonly id: NodeId;
  readonly clusterId: bigint;
  /** Whether a leader is known right now. */
  leaderKnown(): boolean;
  /** The other members this member knows of, with a peer URL each. */
  peers(): readonly { readonly id: NodeId; readonly url: string }[];
  /** A peer's member list: its cluster id and member ids. */
  memberList(url: string, timeoutMs: number): Promise<{ readonly clusterId: bigint; readonly memberIds: readonly bigint[] }>;
  /** Called once, when a majority of the peers say this member was removed. */
  onRemoved(): void;
  readonly logger: DriverLogger;
}

export interface RemovalWatchOptions {
  /** Ask the peers after this long without a leader, ms. */
  readonly leaderlessMs: number;
  /** How often the watch looks, ms. */
  readonly intervalMs: number;
  /** Deadline of each peer's answer, ms. */
  readonly askTimeoutMs: number;
}

export const DEFAULT_REMOVAL_WATCH: RemovalWatchOptions = { leaderlessMs: 3_000, intervalMs: 1_000, askTimeoutMs: 1_000 };

export class RemovalWatch {
  private timer: NodeJS.Timeout | undefined;
  private leaderSeenAt = performance.now();
  private asking = false;
  private removed = false;

  constructor(
    private readonly host: RemovalWatchHost,
    private readonly options: RemovalWatchOptions = DEFAULT_REMOVAL_WATCH,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.host.leaderKnown()) {
      this.leaderSeenAt = performance.now();
      return;
    }
    if (this.asking || this.removed || performance.now() - this.leaderSeenAt < this.options.leaderlessMs) return;
    this.asking = true;
    try {
      if (await this.checkOnce()) {
        this.removed = true;
        this.stop();
        this.host.onRemoved();
      }
    } finally {
      this.asking = false;
    }
  }

  /** Asks the peers once; true when a majority of them (in our cluster) no longer list us. */
  async checkOnce(): Promise<boolean> {
    const peers = this.host.peers().filter((p) => p.id !== this.host.id);
    if (peers.length === 0) return false;
    const answers = await Promise.all(
      peers.map((p) =>
        this.host.memberList(p.url, this.options.askTimeoutMs).then(
          (list) => list,
          () => undefined,
        ),
      ),
    );
    const ours = answers.filter((a): a is { clusterId: bigint; memberIds: readonly bigint[] } => a !== undefined && a.clusterId === this.host.clusterId);
    if (ours.some((a) => a.memberIds.includes(this.host.id))) return false;
    const majority = Math.floor(peers.length / 2) + 1;
    if (ours.length < majority) return false;
    this.host.logger.warn('a majority of the other members no longer list this member: it was removed from the cluster', { asked: peers.length, answered: ours.length });
    return true;
  }
}
