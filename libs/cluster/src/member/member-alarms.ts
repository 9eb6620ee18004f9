/**
 * A member's side of etcd's alarms: the space quota on its writes, the alarm commands it
 * proposes as leader, and the alarm list as of a linearizable point. The alarm table itself
 * is replicated state (libs/statemachine engine/alarms.ts): every member applies the same
 * activations, so every member refuses the same writes.
 *
 *     Put/Txn/LeaseGrant ─► check(op) ─► over quota ─► (api) Alarm ACTIVATE via the leader
 *                                                      ─► log ─► every member: NOSPACE
 *     Alarm GET ─► list(): read barrier ─► applied alarm table
 *     Alarm ACTIVATE/DEACTIVATE ─► change() (leader) ─► log ─► AlarmResponse.alarms
 */
import { ReadMode } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { AlarmAction, AlarmRecord, AlarmType, ApplyResult, StateMachine, WriteRequest } from '@keyval/statemachine';
import { encodeCommand } from '@keyval/statemachine';
import type { RaftDriver } from '../driver/raft-driver';
import type { DriverLogger } from '../driver/driver-options';
import type { DiskUsageProbe } from './disk-usage';
import { SpaceQuota } from './space-quota';
import type { SpaceVerdict } from './space-quota';

export interface MemberAlarmsDeps {
  readonly driver: RaftDriver<ApplyResult>;
  readonly stateMachine: StateMachine;
  /** The member's database size probe (Status.dbSize and the quota read the same figure). */
  readonly disk: DiskUsageProbe;
  /** Resolved quota, bytes. */
  readonly quotaBytes: number;
  readonly leaseReads: boolean;
  readonly logger: DriverLogger;
}

/** An alarm command applied as something else (a bug in the apply engine). */
export class AlarmApplyError extends Error {
  constructor(kind: string) {
    super(`an alarm command applied as ${kind}`);
    this.name = 'AlarmApplyError';
  }
}

export class MemberAlarms {
  readonly quota: SpaceQuota;
  private readonly disk: DiskUsageProbe;

  constructor(private readonly deps: MemberAlarmsDeps) {
    this.disk = deps.disk;
    this.quota = new SpaceQuota(deps.quotaBytes, {
      dbBytes: async () => {
        const usage = await this.disk.measure();
        return { bytes: usage.dbBytes, measuredAt: this.disk.measuredAt };
      },
      membership: () => deps.stateMachine.membership(),
    });
  }

  /** The alarms active in this member's applied state (no read barrier). */
  active(): readonly AlarmRecord[] {
    return this.deps.stateMachine.membership().alarms ?? [];
  }

  /** The alarms active as of a linearizable point (etcd answers Alarm GET through the log). */
  async list(deadlineMs: number): Promise<readonly AlarmRecord[]> {
    await this.deps.driver.readBarrier(this.deps.leaseReads ? ReadMode.Lease : ReadMode.Safe, deadlineMs);
    return this.active();
  }

  /** What the space quota says of a write (see space-quota.ts). */
  check(op: WriteRequest): Promise<SpaceVerdict> {
    return this.quota.check(op);
  }

  /**
   * As leader: activates or deactivates one alarm through the log; resolves once applied with
   * what etcd's AlarmResponse lists. Throws NotLeaderError on a follower (the caller forwards).
   */
  async change(action: AlarmAction, memberId: NodeId, alarm: AlarmType, deadlineMs: number): Promise<readonly AlarmRecord[]> {
    const data = encodeCommand({ timestampMs: Date.now(), op: { type: 'alarm', action, memberId, alarm } });
    const result = await this.deps.driver.propose(data, deadlineMs);
    if (result.kind === 'rejected') {
      throw result.error;
    }
    if (result.kind !== 'alarm') {
      throw new AlarmApplyError(result.kind);
    }
    return result.alarms;
  }

  /** Logs what an applied alarm command changed (etcd warns "alarm raised"). */
  applied(action: AlarmAction, alarms: readonly AlarmRecord[]): void {
    if (action === 'deactivate') {
      // The operator freed space (compact, defrag) and disarmed: judge the next write by the
      // database as it is now, not by a measurement cached from before.
      this.disk.invalidate();
    }
    for (const a of alarms) {
      this.deps.logger.warn(action === 'activate' ? 'alarm raised' : 'alarm disarmed', { member: a.memberId.toString(16), alarm: a.alarm });
    }
  }
}
