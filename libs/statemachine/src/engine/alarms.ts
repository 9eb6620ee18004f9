/**
 * etcd's alarms and space quota, the replicated part: the alarm table kept with the members
 * table (MembershipState.alarms), the `alarm` command that changes it, and the cost of a
 * write (etcd's quota.go), which says whether a write adds data.
 *
 *     alarm activate NOSPACE ──► alarms += {member, NOSPACE} ──► puts, txns with puts and
 *                                                               lease grants: NoSpaceError
 *     alarm deactivate       ──► alarms -= {member, type}    ──► the last NOSPACE gone: writes again
 */
import type { NodeId } from '@keyval/raft';
import type { AlarmRecord, AlarmType, MembershipState, WriteRequest } from '../command-types';
import type { ByteReader } from '../codec/byte-reader';
import type { ByteWriter } from '../codec/byte-writer';
import type { RequestOp } from '../kv-types';

/** etcd's per-key overhead in the cost of a put (quota.go kvOverhead), bytes. */
export const KV_OVERHEAD_BYTES = 256;

/** etcd's cost of a lease grant (quota.go leaseOverhead), bytes. */
export const LEASE_OVERHEAD_BYTES = 64;

/** Alarm types in their wire order (etcdserverpb.AlarmType: NONE 0, NOSPACE 1, CORRUPT 2). */
export const ALARM_TYPES: readonly AlarmType[] = ['NOSPACE', 'CORRUPT'];

const ALARM_CODES: Readonly<Record<AlarmType, number>> = { NOSPACE: 1, CORRUPT: 2 };

function putsCost(ops: readonly RequestOp[]): number {
  let bytes = 0;
  for (const op of ops) {
    if (op.type === 'put') {
      bytes += KV_OVERHEAD_BYTES + op.request.key.byteLength + op.request.value.byteLength;
    } else if (op.type === 'txn') {
      bytes += Math.max(putsCost(op.request.success), putsCost(op.request.failure));
    }
  }
  return bytes;
}

/**
 * etcd's estimate of the bytes a write adds (quota.go Cost): a put is 256 + key + value; a txn
 * the costlier branch's puts (nested txns counted too, where etcd counts only the top level);
 * a lease grant 64; anything else 0 (deletes, compaction, revokes add nothing).
 */
export function writeCost(op: WriteRequest): number {
  switch (op.type) {
    case 'put':
      return putsCost([op]);
    case 'txn':
      return Math.max(putsCost(op.request.success), putsCost(op.request.failure));
    case 'leaseGrant':
      return LEASE_OVERHEAD_BYTES;
    default:
      return 0;
  }
}

/** Whether a NOSPACE alarm is active (writes that add data are then rejected). */
export function noSpaceAlarmed(membership: MembershipState): boolean {
  return (membership.alarms ?? []).some((a) => a.alarm === 'NOSPACE');
}

function compareAlarms(a: AlarmRecord, b: AlarmRecord): number {
  return a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : ALARM_CODES[a.alarm] - ALARM_CODES[b.alarm];
}

/** The membership with `alarms` (left out when empty, so a state without alarms encodes as before). */
export function withAlarms(membership: MembershipState, alarms: readonly AlarmRecord[]): MembershipState {
  const { alarms: _old, ...rest } = membership;
  return alarms.length === 0 ? rest : { ...rest, alarms: [...alarms].sort(compareAlarms) };
}

/** Applies an alarm command: the new membership and what etcd's AlarmResponse lists. */
export function applyAlarm(current: MembershipState, action: 'activate' | 'deactivate', memberId: NodeId, alarm: AlarmType): { membership: MembershipState; alarms: AlarmRecord[] } {
  const alarms = current.alarms ?? [];
  const existing = alarms.find((a) => a.memberId === memberId && a.alarm === alarm);
  if (action === 'activate') {
    const record = existing ?? { memberId, alarm };
    return { membership: existing === undefined ? withAlarms(current, [...alarms, record]) : current, alarms: [record] };
  }
  if (existing === undefined) {
    return { membership: current, alarms: [] };
  }
  return { membership: withAlarms(current, alarms.filter((a) => a !== existing)), alarms: [existing] };
}

/** Appends the alarm table (a count, then member id and type code per alarm). */
export function writeAlarms(out: ByteWriter, alarms: readonly AlarmRecord[]): void {
  out.varint(alarms.length);
  for (const a of alarms) {
    out.u64(a.memberId).u8(ALARM_CODES[a.alarm]);
  }
}

/** Reads what writeAlarms wrote; `fail` builds the error for an unknown type code. */
export function readAlarms(input: ByteReader, fail: (message: string) => Error): AlarmRecord[] {
  const count = input.varint();
  if (count * 9 > input.remaining) {
    input.raw(count * 9); // throws the reader's truncation error
  }
  const alarms: AlarmRecord[] = [];
  for (let i = 0; i < count; i++) {
    const memberId = input.u64() as NodeId;
    const code = input.u8();
    const alarm = ALARM_TYPES.find((t) => ALARM_CODES[t] === code);
    if (alarm === undefined) {
      throw fail(`unknown alarm type ${code}`);
    }
    alarms.push({ memberId, alarm });
  }
  return alarms;
}

/** etcd's wire code of an alarm type. */
export function alarmCode(alarm: AlarmType): number {
  return ALARM_CODES[alarm];
}

/** The alarm type of an etcd wire code; undefined for NONE (0) and unknown codes. */
export function alarmOfCode(code: number): AlarmType | undefined {
  return ALARM_TYPES.find((t) => ALARM_CODES[t] === code);
}
