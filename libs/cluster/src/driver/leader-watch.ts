/**
 * Who leads, as this member sees it: the leader named by each handled Ready's soft state,
 * announced to listeners when it changes, and awaited by callers that need one.
 *
 *     Ready.softState ─▶ changed(leader) ─▶ listeners (membership, metrics, waitForLeader)
 */
import { NO_NODE, NotLeaderError } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { Clock } from './clock';
import type { DriverLogger } from './driver-options';

export class LeaderWatch {
  private leader: NodeId = NO_NODE;
  private readonly listeners = new Set<(leader: NodeId, term: number) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: DriverLogger,
    /** The core's live view of the leader (ahead of the last handled Ready's). */
    private readonly liveLeader: () => NodeId,
  ) {}

  /** A handled Ready named `leader` (NO_NODE: none) in `term`. */
  changed(leader: NodeId, term: number, role: string): void {
    if (leader === this.leader) {
      return;
    }
    this.leader = leader;
    this.logger.info(leader === NO_NODE ? 'no leader' : `leader is ${leader.toString(16)}`, { role, term });
    for (const listener of this.listeners) {
      listener(leader, term);
    }
  }

  /** Called with (leader, term) whenever the known leader changes (NO_NODE: none). Returns the unsubscribe. */
  onChange(listener: (leader: NodeId, term: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the leader once one is known; rejects with NotLeaderError at the deadline (clock ms). */
  waitForLeader(deadlineMs: number): Promise<NodeId> {
    // The core's view, not the last Ready's: that one lags and may name a deposed leader.
    const live = this.liveLeader();
    if (live !== NO_NODE) {
      return Promise.resolve(live);
    }
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () => {
          off();
          reject(new NotLeaderError(undefined));
        },
        Math.max(0, deadlineMs - this.clock.nowMs()),
      );
      const off = this.onChange((leader) => {
        if (leader !== NO_NODE) {
          timer.cancel();
          off();
          resolve(leader);
        }
      });
    });
  }
}
