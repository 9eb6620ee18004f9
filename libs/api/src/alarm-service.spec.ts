import { GrpcStatus, GrpcStatusError, Metadata } from '@keyval/grpc';
import type { ServerCall } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { nodeId } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { AlarmAction, AlarmRecord, AlarmType, WriteRequest } from '@keyval/statemachine';
import type { SpaceVerdict } from '@keyval/cluster';
import { AlarmService, describeAlarm } from './alarm-service';
import type { AlarmBackend } from './alarm-service';
import type { LeaderForwarder } from './leader-forwarder';
import { FORWARDED_KEY } from './leader-calls';

const SELF = nodeId(0x0an);
const LEADER = nodeId(0x0bn);
const NO_SPACE = 'etcdserver: mvcc: database space exceeded';
const put: WriteRequest = { type: 'put', request: { key: Buffer.from('k'), value: Buffer.from('v') } };

/** A member with an alarm table the changes it is asked for apply to (when it leads). */
class FakeMember implements AlarmBackend {
  verdict: SpaceVerdict = { kind: 'admitted' };
  leading = true;
  full = false;
  alarms: AlarmRecord[] = [];
  readonly changes: string[] = [];
  failChanges: Error | undefined;

  headerContext = (): { clusterId: bigint; memberId: bigint; raftTerm: number } => ({ clusterId: 1n, memberId: SELF, raftTerm: 2 });
  revision = (): number => 7;
  memberId = (): bigint => SELF;
  isLeader = (): boolean => this.leading;
  leaderId = (): NodeId => (this.leading ? SELF : LEADER);
  waitForLeader = async (): Promise<NodeId> => this.leaderId();
  checkSpace = async (): Promise<SpaceVerdict> => this.verdict;
  listAlarms = async (): Promise<readonly AlarmRecord[]> => this.alarms;
  activeAlarms = (): readonly AlarmRecord[] => this.alarms;
  diskFull = (): boolean => this.full;
  changeAlarm = async (action: AlarmAction, memberId: NodeId, alarm: AlarmType): Promise<readonly AlarmRecord[]> => {
    this.changes.push(`${action} ${memberId.toString(16)} ${alarm}`);
    if (this.failChanges !== undefined) throw this.failChanges;
    const existing = this.alarms.find((a) => a.memberId === memberId && a.alarm === alarm);
    if (action === 'activate') {
      if (existing === undefined) this.alarms.push({ memberId, alarm });
      return [{ memberId, alarm }];
    }
    this.alarms = this.alarms.filter((a) => a !== existing);
    return existing === undefined ? [] : [existing];
  };
}

/** A forwarder that records what it is asked to send to the leader and answers with no alarms. */
function recordingForwarder(): { forwarder: LeaderForwarder; sent: string[] } {
  const sent: string[] = [];
  const forwarder = {
    forward: async (service: { name: string }, method: string, request: etcd.AlarmRequest, _metadata: Metadata, leader: NodeId, deadlineMs: number): Promise<etcd.AlarmResponse> => {
      expect(deadlineMs).toBeGreaterThan(performance.now());
      sent.push(`${service.name}.${method} ${request.action} ${request.memberID.toString(16)} ${request.alarm} to ${leader.toString(16)}`);
      return { header: undefined, alarms: [{ memberID: request.memberID, alarm: request.alarm }] };
    },
    close: () => undefined,
  };
  return { forwarder: forwarder as unknown as LeaderForwarder, sent };
}

function call(): ServerCall {
  return {
    path: '/etcdserverpb.KV/Put',
    peer: 'test',
    metadata: new Metadata(),
    deadline: Date.now() + 2_000,
    signal: new AbortController().signal,
    setHeader: () => undefined,
    setTrailer: () => undefined,
  };
}

const statusOf = async (p: Promise<unknown>): Promise<[GrpcStatus, string]> => {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GrpcStatusError);
  return [(error as GrpcStatusError).code, (error as GrpcStatusError).details];
};

describe('AlarmService', () => {
  let member: FakeMember;
  let service: AlarmService;
  let raiseFailures: unknown[];
  beforeEach(() => {
    member = new FakeMember();
    raiseFailures = [];
    service = new AlarmService(member, recordingForwarder().forwarder, { defaultTimeoutMs: 2_000, onRaiseFailed: (e) => raiseFailures.push(e) });
  });

  it('admits what the quota admits; refuses with etcd’s text while NOSPACE is active, raising nothing', async () => {
    await expect(service.admit(put, call())).resolves.toBeUndefined();
    member.verdict = { kind: 'alarmed' };
    expect(await statusOf(service.admit(put, call()))).toEqual([GrpcStatus.RESOURCE_EXHAUSTED, NO_SPACE]);
    expect(member.changes).toEqual([]);
  });

  it('over the quota: raises NOSPACE for this member through the log, then refuses (even when the raise fails)', async () => {
    member.verdict = { kind: 'over-quota', dbBytes: 900, costBytes: 300, quotaBytes: 1_000 };
    expect(await statusOf(service.admit(put, call()))).toEqual([GrpcStatus.RESOURCE_EXHAUSTED, NO_SPACE]);
    expect(member.changes).toEqual(['activate a NOSPACE']);
    expect(member.alarms).toEqual([{ memberId: SELF, alarm: 'NOSPACE' }]);
    // A write a follower forwarded was judged there (as etcd: the member called judges).
    member.alarms = [];
    const forwarded = { ...call(), metadata: Metadata.from({ [FORWARDED_KEY]: '1' }) };
    await expect(service.admit(put, forwarded)).resolves.toBeUndefined();
    expect(member.changes).toEqual(['activate a NOSPACE']);
    member.failChanges = new Error('no quorum');
    expect(await statusOf(service.admit(put, call()))).toEqual([GrpcStatus.RESOURCE_EXHAUSTED, NO_SPACE]);
    expect(raiseFailures).toHaveLength(1);
  });

  it('a follower over its quota, or with a full disk, asks the leader to raise the alarm (Maintenance.Alarm forwarded)', async () => {
    const { forwarder, sent } = recordingForwarder();
    member.leading = false;
    member.verdict = { kind: 'over-quota', dbBytes: 900, costBytes: 300, quotaBytes: 1_000 };
    const onFollower = new AlarmService(member, forwarder, { defaultTimeoutMs: 2_000 });
    expect(await statusOf(onFollower.admit(put, call()))).toEqual([GrpcStatus.RESOURCE_EXHAUSTED, NO_SPACE]);
    expect(sent).toEqual([`Maintenance.alarm ${etcd.AlarmRequest_AlarmAction.ACTIVATE} a ${etcd.AlarmType.NOSPACE} to b`]);
    // A follower's full disk too (a call of its own, with its own deadline).
    member.full = true;
    await onFollower.checkDiskFull();
    expect(sent).toHaveLength(2);
    expect(member.changes).toEqual([]);
  });

  it('Alarm: GET lists (NONE: every type), ACTIVATE/DEACTIVATE go through the log, bad types are refused', async () => {
    member.alarms = [
      { memberId: SELF, alarm: 'NOSPACE' },
      { memberId: LEADER, alarm: 'CORRUPT' },
    ];
    const A = etcd.AlarmRequest_AlarmAction;
    const T = etcd.AlarmType;
    const get = async (alarm: etcd.AlarmType): Promise<etcd.AlarmMember[]> => (await service.alarm({ action: A.GET, memberID: 0n, alarm }, call())).alarms;
    expect(await get(T.NONE)).toEqual([
      { memberID: SELF, alarm: T.NOSPACE },
      { memberID: LEADER, alarm: T.CORRUPT },
    ]);
    expect(await get(T.CORRUPT)).toEqual([{ memberID: LEADER, alarm: T.CORRUPT }]);
    expect((await service.alarm({ action: A.DEACTIVATE, memberID: SELF, alarm: T.NOSPACE }, call())).alarms).toEqual([{ memberID: SELF, alarm: T.NOSPACE }]);
    expect((await service.alarm({ action: A.DEACTIVATE, memberID: SELF, alarm: T.NOSPACE }, call())).alarms).toEqual([]);
    expect((await service.alarm({ action: A.DEACTIVATE, memberID: 0n, alarm: T.NONE }, call())).alarms).toEqual([]);
    expect(await statusOf(service.alarm({ action: A.ACTIVATE, memberID: SELF, alarm: T.NONE }, call()))).toEqual([GrpcStatus.INVALID_ARGUMENT, 'alarm type 0 cannot be activated: give NOSPACE or CORRUPT']);
    expect((await statusOf(service.alarm({ action: A.GET, memberID: 0n, alarm: 9 as etcd.AlarmType }, call())))[0]).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(member.changes).toEqual(['deactivate a NOSPACE', 'deactivate a NOSPACE']);
  });

  it('a full disk raises NOSPACE for this member once (one raise at a time, none while raised), and again after a disarm', async () => {
    await service.checkDiskFull();
    expect(member.changes).toEqual([]);
    member.full = true;
    await Promise.all([service.checkDiskFull(), service.checkDiskFull()]);
    await service.checkDiskFull();
    expect(member.changes).toEqual(['activate a NOSPACE']);
    member.alarms = [];
    await service.checkDiskFull();
    expect(member.changes).toEqual(['activate a NOSPACE', 'activate a NOSPACE']);
  });

  it('describes an alarm as etcd’s Status.errors does (protobuf text, trailing space)', () => {
    expect(describeAlarm({ memberId: nodeId(13668033151171901709n), alarm: 'NOSPACE' })).toBe('memberID:13668033151171901709 alarm:NOSPACE ');
  });
});
