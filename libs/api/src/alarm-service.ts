/**
 * etcd's alarms on the client port: `Maintenance.Alarm` (GET, ACTIVATE, DEACTIVATE) and the
 * space quota in front of the writes that add data (etcd's quotaKVServer/quotaLeaseServer).
 *
 *     Put / Txn / LeaseGrant ─► admit(op):
 *         NOSPACE already active ─────────────────────────────────► NoSpaceError
 *         this member's dbSize + cost ≥ quota (not judged again when forwarded to the leader)
 *                                              ─► Alarm ACTIVATE NOSPACE (this member) via
 *                                                the leader, through the log ─► NoSpaceError
 *     Alarm GET ─► the alarms at a linearizable point (any member)
 *     Alarm ACTIVATE / DEACTIVATE ─► on the leader (a follower forwards) ─► log ─► alarms
 *
 *     disk full (WAL: ENOSPC) ─► checkDiskFull ─► Alarm ACTIVATE NOSPACE (this member) via the leader
 *
 * Every member applies the activation, so every member then refuses what adds data (the
 * state machine's capped apply) until an operator disarms it: compact, defragment, `etcdctl
 * alarm disarm`. NoSpaceError answers RESOURCE_EXHAUSTED with etcd's exact text.
 */
import { etcd } from '@keyval/proto';
import { Metadata } from '@keyval/grpc';
import type { ServerCall } from '@keyval/grpc';
import type { NodeId } from '@keyval/raft';
import { NoSpaceError, alarmCode, alarmOfCode } from '@keyval/statemachine';
import type { AlarmAction, AlarmRecord, AlarmType, WriteRequest } from '@keyval/statemachine';
import type { SpaceVerdict } from '@keyval/cluster';
import { invalidArgument } from './api.errors';
import type { HeaderContext } from './etcd-response';
import { toStatusError } from './error-status';
import { FORWARDED_KEY, callDeadline, writeOnLeader } from './leader-calls';
import type { LeaderRouting } from './leader-calls';
import type { LeaderForwarder } from './leader-forwarder';

/**
 * etcd 3.4 answers Alarm without a response header (its applier makes a bare AlarmResponse and
 * the maintenance server does not fill one in): `{"alarms":[...]}` on the JSON API. KeyVal does
 * the same, so transcripts compare equal (the compatibility suite asks both).
 */
const ALARM_HEADER = undefined;

/** What the alarm service needs of a member. */
export interface AlarmBackend extends LeaderRouting {
  headerContext(): HeaderContext;
  revision(): number;
  /** This member's id (the member a quota alarm names). */
  memberId(): bigint;
  /** The space quota's verdict on a write, from this member's own database size. */
  checkSpace(op: WriteRequest): Promise<SpaceVerdict>;
  /** Leader only: one alarm command through the log; what etcd's AlarmResponse lists. */
  changeAlarm(action: AlarmAction, memberId: NodeId, alarm: AlarmType, deadlineMs: number): Promise<readonly AlarmRecord[]>;
  /** The active alarms at a linearizable point. */
  listAlarms(deadlineMs: number): Promise<readonly AlarmRecord[]>;
  /** The active alarms in this member's applied state (no read barrier). */
  activeAlarms(): readonly AlarmRecord[];
  /** True while this member's write-ahead log refuses writes because its disk is full (ENOSPC). */
  diskFull(): boolean;
}

export interface AlarmServiceOptions {
  /** Deadline of a call that brings none, ms. */
  readonly defaultTimeoutMs: number;
  /** Told when raising NOSPACE failed (the write is refused anyway, as etcd does). */
  readonly onRaiseFailed?: (error: unknown) => void;
}

/** An alarm as etcd's AlarmMember. */
export function alarmToWire(alarm: AlarmRecord): etcd.AlarmMember {
  return { memberID: alarm.memberId, alarm: alarmCode(alarm.alarm) };
}

/** etcd's text for an alarm (Status.errors, /health): its protobuf text form, trailing space included. */
export function describeAlarm(alarm: AlarmRecord): string {
  return `memberID:${alarm.memberId} alarm:${alarm.alarm} `;
}

/** How long raising NOSPACE for a full disk may take, ms. */
export const DISK_FULL_RAISE_TIMEOUT_MS = 5_000;

export class AlarmService {
  /** The disk-full raise under way (one at a time). */
  private raising: Promise<void> | undefined;

  constructor(
    private readonly backend: AlarmBackend,
    private readonly forwarder: LeaderForwarder,
    private readonly options: AlarmServiceOptions,
  ) {}

  /**
   * The space quota in front of a write (see the module comment): resolves when the write may
   * go on; throws the RESOURCE_EXHAUSTED status otherwise, after raising NOSPACE if this
   * member's database is over the quota.
   */
  async admit(op: WriteRequest, call: ServerCall): Promise<void> {
    const verdict = await this.backend.checkSpace(op);
    // As etcd: the member the client called judges the write by its own database; the leader
    // does not judge again what a follower forwarded (an active alarm still refuses it).
    const forwarded = call.metadata.get(FORWARDED_KEY) !== undefined;
    if (verdict.kind === 'admitted' || (verdict.kind === 'over-quota' && forwarded)) {
      return;
    }
    if (verdict.kind === 'over-quota') {
      const request: etcd.AlarmRequest = { action: etcd.AlarmRequest_AlarmAction.ACTIVATE, memberID: this.backend.memberId(), alarm: etcd.AlarmType.NOSPACE };
      await this.onLeader(request, call).catch((error: unknown) => this.options.onRaiseFailed?.(error));
      throw toStatusError(NoSpaceError.overQuota(verdict.dbBytes, verdict.costBytes, verdict.quotaBytes));
    }
    throw toStatusError(NoSpaceError.alarmed());
  }

  /**
   * While this member's disk is full (its WAL refuses writes: ENOSPC), raises NOSPACE for it
   * through the leader (the other members' logs still take the entry), unless already raised:
   * every member then refuses what adds data, as with the quota. Called periodically (see
   * `watchDiskFull`); resolves when this check is done. Never throws: a failed raise is told
   * to `onRaiseFailed` and tried again at the next check.
   */
  checkDiskFull(): Promise<void> {
    const self = this.backend.memberId();
    if (!this.backend.diskFull() || this.backend.activeAlarms().some((a) => a.memberId === self && a.alarm === 'NOSPACE')) {
      return Promise.resolve();
    }
    this.raising ??= this.raiseInternally({ action: etcd.AlarmRequest_AlarmAction.ACTIVATE, memberID: self, alarm: etcd.AlarmType.NOSPACE })
      .then(
        () => undefined,
        (error: unknown) => this.options.onRaiseFailed?.(error),
      )
      .finally(() => {
        this.raising = undefined;
      });
    return this.raising;
  }

  /** Runs `checkDiskFull` every `intervalMs` (unref'd); returns the function that stops it. */
  watchDiskFull(intervalMs: number): () => void {
    const timer = setInterval(() => void this.checkDiskFull(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** An alarm request of the member's own (no client call): on the leader, or forwarded to it. */
  private raiseInternally(request: etcd.AlarmRequest): Promise<etcd.AlarmResponse> {
    const call: ServerCall = {
      path: '/etcdserverpb.Maintenance/Alarm',
      peer: 'self',
      metadata: new Metadata(),
      deadline: Date.now() + DISK_FULL_RAISE_TIMEOUT_MS,
      signal: AbortSignal.timeout(DISK_FULL_RAISE_TIMEOUT_MS),
      // Nobody reads this call's headers or trailers.
      setHeader: () => undefined,
      setTrailer: () => undefined,
    };
    return this.onLeader(request, call);
  }

  /** etcd's Maintenance.Alarm. */
  async alarm(request: etcd.AlarmRequest, call: ServerCall): Promise<etcd.AlarmResponse> {
    if (request.action === etcd.AlarmRequest_AlarmAction.GET) {
      const wanted = request.alarm === etcd.AlarmType.NONE ? undefined : alarmOfCode(request.alarm);
      if (request.alarm !== etcd.AlarmType.NONE && wanted === undefined) {
        throw invalidArgument(`unknown alarm type ${request.alarm}`);
      }
      let alarms: readonly AlarmRecord[];
      try {
        alarms = await this.backend.listAlarms(callDeadline(call, this.options.defaultTimeoutMs));
      } catch (error) {
        throw toStatusError(error);
      }
      return { header: ALARM_HEADER, alarms: alarms.filter((a) => wanted === undefined || a.alarm === wanted).map(alarmToWire) };
    }
    if (request.action !== etcd.AlarmRequest_AlarmAction.ACTIVATE && request.action !== etcd.AlarmRequest_AlarmAction.DEACTIVATE) {
      throw invalidArgument(`unknown alarm action ${request.action}`);
    }
    const alarm = alarmOfCode(request.alarm);
    if (alarm === undefined) {
      if (request.action === etcd.AlarmRequest_AlarmAction.DEACTIVATE && request.alarm === etcd.AlarmType.NONE) {
        // etcd: deactivating NONE finds no alarm and lists none (clients disarm alarm by alarm).
        return { header: ALARM_HEADER, alarms: [] };
      }
      throw invalidArgument(`alarm type ${request.alarm} cannot be ${request.action === etcd.AlarmRequest_AlarmAction.ACTIVATE ? 'activated' : 'deactivated'}: give NOSPACE or CORRUPT`);
    }
    return this.onLeader(request, call);
  }

  /** ACTIVATE/DEACTIVATE on the leader: here when leading, else forwarded as Maintenance.Alarm. */
  private onLeader(request: etcd.AlarmRequest, call: ServerCall): Promise<etcd.AlarmResponse> {
    const alarm = alarmOfCode(request.alarm) as AlarmType;
    const action: AlarmAction = request.action === etcd.AlarmRequest_AlarmAction.ACTIVATE ? 'activate' : 'deactivate';
    return writeOnLeader(this.backend, this.forwarder, {
      call,
      service: etcd.MaintenanceDefinition,
      method: 'alarm',
      request,
      // Raising or clearing an alarm twice gives the same state: a retry is safe.
      hasSession: true,
      defaultTimeoutMs: this.options.defaultTimeoutMs,
      local: async (deadlineMs) => {
        const alarms = await this.backend.changeAlarm(action, request.memberID as NodeId, alarm, deadlineMs);
        return { header: ALARM_HEADER, alarms: alarms.map(alarmToWire) };
      },
    });
  }
}
