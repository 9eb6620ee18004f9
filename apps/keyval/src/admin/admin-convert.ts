/**
 * Conversions between the member's plain status and membership data (libs/cluster,
 * libs/statemachine) and the Admin and etcd protobuf messages.
 */
import { admin, etcd } from '@keyval/proto';
import { ProgressState, Role } from '@keyval/raft';
import type { SnapshotMeta } from '@keyval/raft';
import type { FollowerReport, HealthState, MemberStatusReport } from '@keyval/cluster';
import type { MemberRecord, MembershipState } from '@keyval/statemachine';

const ROLES: Readonly<Record<Role, admin.Role>> = {
  [Role.Follower]: admin.Role.ROLE_FOLLOWER,
  [Role.PreCandidate]: admin.Role.ROLE_PRE_CANDIDATE,
  [Role.Candidate]: admin.Role.ROLE_CANDIDATE,
  [Role.Leader]: admin.Role.ROLE_LEADER,
};

const HEALTH: Readonly<Record<HealthState, admin.Health>> = {
  ok: admin.Health.HEALTH_OK,
  degraded: admin.Health.HEALTH_DEGRADED,
  unhealthy: admin.Health.HEALTH_UNHEALTHY,
};

const REPLICATION: Readonly<Record<ProgressState, admin.ReplicationState>> = {
  [ProgressState.Probe]: admin.ReplicationState.REPLICATION_STATE_PROBE,
  [ProgressState.Replicate]: admin.ReplicationState.REPLICATION_STATE_REPLICATE,
  [ProgressState.Snapshot]: admin.ReplicationState.REPLICATION_STATE_SNAPSHOT,
};

/** Who answers: the Admin response header. */
export interface HeaderSource {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly memberName: string;
  readonly raftTerm: number;
}

export function adminHeader(h: HeaderSource): admin.ResponseHeader {
  return { clusterId: h.clusterId, memberId: h.memberId, memberName: h.memberName, raftTerm: BigInt(h.raftTerm) };
}

/** The members of `membership` as the Admin API lists them. */
export function adminMembers(membership: MembershipState): admin.Member[] {
  const learners = new Set(membership.config.learners);
  return membership.members.map((m) => adminMember(m, learners.has(m.id)));
}

export function adminMember(m: MemberRecord, isLearner: boolean): admin.Member {
  return { id: m.id, name: m.name, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], isLearner };
}

/** An Admin member as etcd lists it. */
export function etcdMember(m: admin.Member): etcd.Member {
  return { ID: m.id, name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: m.isLearner };
}

export function snapshotMetaToWire(meta: SnapshotMeta): { index: bigint; term: bigint; config: { voters: bigint[]; learners: bigint[] } } {
  return { index: BigInt(meta.index), term: BigInt(meta.term), config: { voters: [...meta.config.voters], learners: [...meta.config.learners] } };
}

function followerToWire(f: FollowerReport): admin.FollowerProgress {
  return {
    memberId: f.id,
    name: f.name,
    isLearner: f.isLearner,
    matchIndex: BigInt(f.match),
    nextIndex: BigInt(f.next),
    lag: BigInt(f.lag),
    state: REPLICATION[f.state],
    recentActive: f.recentActive,
  };
}

/** A status report as the Admin API answers it. */
export function statusToWire(r: MemberStatusReport, version: string): admin.StatusResponse {
  return {
    header: adminHeader({ clusterId: r.clusterId, memberId: r.id, memberName: r.name, raftTerm: r.term }),
    memberId: r.id,
    name: r.name,
    role: ROLES[r.role],
    isLearner: r.isLearner,
    term: BigInt(r.term),
    leaderId: r.leader,
    commitIndex: BigInt(r.commit),
    appliedIndex: BigInt(r.applied),
    lastLogIndex: BigInt(r.lastIndex),
    snapshotIndex: BigInt(r.snapshotIndex),
    walBytes: BigInt(r.disk.walBytes),
    dbBytes: BigInt(r.disk.dbBytes),
    health: HEALTH[r.health],
    healthProblems: [...r.problems],
    followers: r.followers.map(followerToWire),
    version,
    clientUrls: [...r.clientUrls],
    peerUrls: [...r.peerUrls],
  };
}
