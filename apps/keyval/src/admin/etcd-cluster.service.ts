/**
 * etcd's Cluster service (member list, add, remove, promote, update), wire-compatible so
 * `etcdctl member …` works (Maintenance: etcd-maintenance.service.ts). Changes run on the leader through the Admin API's path
 * (AdminService.onLeader: forwarded as Admin calls); refusals carry etcd's texts
 * (libs/api error-status.ts).
 *
 * `member update` changes a member's peer URLs keeping its id (a command through the log; the
 * transports then send to the new URL). Differences from etcd: `member add` without --learner
 * adds a voter only when the cluster keeps a live quorum counting the new (not yet running)
 * member, as etcd's strict reconfig check does.
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServerCall, ServiceImplementation } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { ETCD_CLUSTER_MESSAGES, header } from '@keyval/api';
import type { MemberService } from '../member/member.service';
import type { AdminService } from './admin.service';
import { adminMembers, etcdMember } from './admin-convert';
import { NO_NODE } from '@keyval/raft';

export class EtcdClusterService {
  constructor(
    private readonly members: MemberService,
    private readonly adminService: AdminService,
  ) {}

  private header(): etcd.ResponseHeader {
    return header(this.members.member.stateMachine.revision(), this.members.headerContext());
  }

  /** The members as this member knows them now, as etcd lists them. */
  private membersNow(): etcd.Member[] {
    return adminMembers(this.members.member.membership()).map(etcdMember);
  }

  readonly cluster: ServiceImplementation<typeof etcd.ClusterDefinition> = {
    memberList: async () => ({ header: this.header(), members: this.members.member.memberList() }),
    memberAdd: (req, call) => this.memberAdd(req, call),
    memberRemove: async (req, call) => {
      const done = await this.adminService.onLeader('memberRemove', { id: memberId(req.ID), force: false }, call);
      return { header: this.header(), members: done.members.map(etcdMember) };
    },
    memberPromote: async (req, call) => {
      const done = await this.adminService.onLeader('memberPromote', { id: memberId(req.ID), force: false }, call);
      return { header: this.header(), members: done.members.map(etcdMember) };
    },
    memberUpdate: async (req, call) => {
      const done = await this.adminService.onLeader('memberUpdate', { id: memberId(req.ID), peerUrls: [...req.peerURLs] }, call);
      return { header: this.header(), members: done.members.map(etcdMember) };
    },
  };

  private async memberAdd(req: etcd.MemberAddRequest, call: ServerCall): Promise<etcd.MemberAddResponse> {
    const added = await this.adminService.onLeader('memberAdd', { name: '', peerUrls: [...req.peerURLs], voter: !req.isLearner, force: false }, call);
    return {
      header: this.header(),
      member: added.member === undefined ? undefined : etcdMember(added.member),
      members: added.members.length > 0 ? added.members.map(etcdMember) : this.membersNow(),
    };
  }
}

/** etcd answers "member not found" for id 0. */
function memberId(id: bigint): bigint {
  if (id === NO_NODE) throw new GrpcStatusError(GrpcStatus.NOT_FOUND, `${ETCD_CLUSTER_MESSAGES.memberNotFound}: 0 is not a member id`);
  return id;
}
