/**
 * KeyVal's Admin service (`keyval.admin.v1.Admin`, proto/keyval/admin/v1/admin.proto) on a
 * member: status, membership, leader transfer and snapshots, for kvctl. Membership changes and
 * leader transfers run on the leader (LeaderRouter forwards them); status, member list and
 * snapshots are answered by the member called.
 */
import { crc32c } from '@node-rs/crc32';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServerCall, ServerWritableCall, ServiceImplementation } from '@keyval/grpc';
import { admin } from '@keyval/proto';
import { NO_NODE, ReadMode, nodeId } from '@keyval/raft';
import { memberStatus, openBackup, transferLeadership } from '@keyval/cluster';
import type { DiskUsageProbe } from '@keyval/cluster';
import type { BackupSource, KvMember } from '@keyval/cluster';
import { toStatusError } from '@keyval/api';
import type { MemberService } from '../member/member.service';
import { adminHeader, adminMember, adminMembers, snapshotMetaToWire, statusToWire } from './admin-convert';
import { callDeadline } from './leader-router';
import type { LeaderMethod, LeaderRouter, RequestOf, ResponseOf } from './leader-router';

/** SnapshotSave streams one member serves at once (each holds a snapshot file open). */
export const SNAPSHOT_SAVES_MAX = 2;
/** Most peer URLs one member may have. */
const PEER_URLS_MAX = 16;

/** Throws INVALID_ARGUMENT unless every URL is http://host:port ("given member URLs are invalid" in etcd). */
export function checkPeerUrls(urls: readonly string[]): void {
  if (urls.length === 0 || urls.length > PEER_URLS_MAX) {
    throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `etcdserver: given member URLs are invalid: give 1 to ${PEER_URLS_MAX} peer URLs`);
  }
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.port === '' || parsed.pathname !== '/' || parsed.search !== '') {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `etcdserver: given member URLs are invalid: ${JSON.stringify(url)} is not http(s)://host:port`);
    }
  }
}

/** Checks a leader method's request before it goes anywhere (INVALID_ARGUMENT). */
function validate<K extends LeaderMethod>(method: K, req: RequestOf<K>): void {
  const r = req as RequestOf<LeaderMethod>;
  if (method === 'memberAdd' && 'name' in r) {
    checkPeerUrls(r.peerUrls);
    if (r.name.length > 0 && !/^[A-Za-z0-9._-]{1,63}$/.test(r.name)) {
      throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, `member name ${JSON.stringify(r.name)} must be 1-63 letters, digits, dots, dashes or underscores`);
    }
  }
  if (method === 'memberUpdate' && 'peerUrls' in r) {
    checkPeerUrls(r.peerUrls);
  }
  if ((method === 'memberPromote' || method === 'memberRemove' || method === 'memberUpdate') && 'id' in r && r.id === NO_NODE) {
    throw new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, 'a member id is required (0 is not a member id)');
  }
}

export class AdminService {
  private saves = 0;

  constructor(
    private readonly members: MemberService,
    private readonly router: LeaderRouter,
    private readonly version: string,
  ) {}

  /** The data dir's WAL and database bytes (the member's probe, cached for a second). */
  diskUsage(): DiskUsageProbe {
    return this.members.member.disk;
  }

  private header(m: KvMember): admin.ResponseHeader {
    return adminHeader({ clusterId: m.clusterId, memberId: m.id, memberName: m.identity.name, raftTerm: m.status().term });
  }

  private async local<T>(fn: (m: KvMember) => Promise<T>): Promise<T> {
    try {
      return await fn(this.members.member);
    } catch (error) {
      throw toStatusError(error);
    }
  }

  /** What each leader method does on the leader. */
  private readonly onLeaderDo: { readonly [K in LeaderMethod]: (req: RequestOf<K>, deadlineMs: number) => Promise<ResponseOf<K>> } = {
    memberAdd: async (req, deadline) => {
      const m = this.members.member;
      const added = await m.membershipOps.add(req.name, req.peerUrls, req.voter, req.force, deadline);
      return { header: this.header(m), member: adminMember(added, !req.voter), members: adminMembers(m.membership()) };
    },
    memberPromote: async (req, deadline) => {
      const m = this.members.member;
      await m.membershipOps.promote(nodeId(req.id), req.force, deadline);
      return { header: this.header(m), members: adminMembers(m.membership()) };
    },
    memberRemove: async (req, deadline) => {
      const m = this.members.member;
      await m.removeMember(nodeId(req.id), req.force, deadline);
      return { header: this.header(m), members: adminMembers(m.membership()) };
    },
    memberUpdate: async (req, deadline) => {
      const m = this.members.member;
      await m.membershipOps.update(nodeId(req.id), req.peerUrls, deadline);
      return { header: this.header(m), members: adminMembers(m.membership()) };
    },
    transferLeadership: async (req, deadline) => {
      const m = this.members.member;
      const leader = await transferLeadership(m, nodeId(req.targetId), deadline);
      return { header: this.header(m), leaderId: leader };
    },
  };

  /**
   * Validates a leader method's request here, then runs it on the leader (forwarding as
   * needed). Also what etcd's Cluster and Maintenance services call. Errors are gRPC statuses.
   */
  async onLeader<K extends LeaderMethod>(method: K, req: RequestOf<K>, call: ServerCall): Promise<ResponseOf<K>> {
    validate(method, req);
    const run = this.onLeaderDo[method] as (r: RequestOf<K>, deadlineMs: number) => Promise<ResponseOf<K>>;
    return this.router.onLeader(method, req, call, (deadline) => run(req, deadline));
  }

  readonly implementation: ServiceImplementation<typeof admin.AdminDefinition> = {
    status: () => this.local(async (m) => statusToWire(await memberStatus(m, m.disk), this.version)),
    memberList: (req, call) =>
      this.local(async (m) => {
        if (!req.serializable) await m.driver.readBarrier(ReadMode.Safe, callDeadline(call));
        return { header: this.header(m), members: adminMembers(m.membership()), leaderId: m.status().leader };
      }),
    memberAdd: (req, call) => this.onLeader('memberAdd', req, call),
    memberPromote: (req, call) => this.onLeader('memberPromote', req, call),
    memberRemove: (req, call) => this.onLeader('memberRemove', req, call),
    memberUpdate: (req, call) => this.onLeader('memberUpdate', req, call),
    transferLeadership: (req, call) => this.onLeader('transferLeadership', req, call),
    snapshotTake: () =>
      this.local(async (m) => {
        const meta = await m.driver.takeSnapshot();
        const info = m.stateMachine.snapshots.byIndex(meta.index);
        return { header: this.header(m), meta: snapshotMetaToWire(meta), sizeBytes: BigInt(info.sizeBytes) };
      }),
    snapshotSave: (_req, call) => this.snapshotSave(call),
  };

  /** Streams a consistent snapshot: a header, then checksummed chunks in order (flow-controlled). */
  private snapshotSave(call: ServerWritableCall<admin.SnapshotSaveResponse>): Promise<void> {
    return this.withBackup(async (backup) => {
      const header: admin.SnapshotSaveHeader = { meta: snapshotMetaToWire(backup.meta), totalBytes: BigInt(backup.totalBytes), crc32c: backup.crc32c, members: adminMembers(backup.membership) };
      await call.write({ part: { $case: 'header', value: header } });
      let offset = 0;
      for await (const data of backup.chunks()) {
        await call.write({ part: { $case: 'chunk', value: { offset: BigInt(offset), data, crc32c: crc32c(data) } } });
        offset += data.byteLength;
      }
    });
  }

  /**
   * Runs `send` with a consistent backup of this member's state (Admin.SnapshotSave and etcd's
   * Maintenance.Snapshot share the SNAPSHOT_SAVES_MAX downloads a member serves at once).
   */
  async withBackup(send: (backup: BackupSource) => Promise<void>): Promise<void> {
    if (this.saves >= SNAPSHOT_SAVES_MAX) {
      throw new GrpcStatusError(GrpcStatus.RESOURCE_EXHAUSTED, `${this.saves} snapshot downloads are already running on this member; try again later`);
    }
    this.saves++;
    try {
      const backup = await openBackup(this.members.member).catch((error: unknown) => {
        throw toStatusError(error);
      });
      try {
        await send(backup);
      } finally {
        await backup.close();
      }
    } finally {
      this.saves--;
    }
  }
}
