/**
 * etcd's Maintenance service, wire-compatible so `etcdctl endpoint status|hashkv`, `defrag`,
 * `snapshot save` and `move-leader` work. Every call but MoveLeader is answered by the member
 * called, from its own applied state (as etcd's), with header.member_id = that member.
 *
 *     Status      the member's Raft and storage figures; errors as etcd words them
 *     Hash        CRC-32C of the whole replicated state (libs/statemachine state-hash.ts)
 *     HashKV      CRC-32C of the key space at a revision, with the compacted revision
 *     Defragment  RocksDB compaction of every key range, one range per step (writes go on)
 *     Snapshot    a consistent snapshot file (KeyVal's format), then its SHA-256 as etcd sends it
 *     Alarm       the cluster's alarms: GET (linearizable), ACTIVATE/DEACTIVATE through the log (libs/api alarm-service.ts)
 *     MoveLeader  on the leader (Admin API path)
 *
 * Differences from etcd: Snapshot streams KeyVal's snapshot format, not a bbolt database, so
 * `etcdctl snapshot restore|status` cannot read it (`kvctl snapshot restore` can); Defragment
 * does not stop the member (etcd's holds every write for its duration).
 */
import { createHash } from 'node:crypto';
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import type { ServerWritableCall, ServiceImplementation } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { ETCD_CLUSTER_MESSAGES, ETCD_MESSAGES, describeAlarm, header, toStatusError } from '@keyval/api';
import type { AlarmService } from '@keyval/api';
import { NO_NODE } from '@keyval/raft';
import { etcdSnapshotPadding } from '@keyval/statemachine';
import type { MemberService } from '../member/member.service';
import type { AdminService } from './admin.service';

/** Bytes of snapshot data per Snapshot message (etcd sends 32 KiB). */
export const SNAPSHOT_MESSAGE_BYTES = 32 * 1024;

export class EtcdMaintenanceService {
  /** The defragmentation running on this member (concurrent calls wait for it). */
  private defragmenting: Promise<void> | undefined;

  constructor(
    private readonly members: MemberService,
    private readonly adminService: AdminService,
    private readonly alarms: AlarmService,
    private readonly version: string,
  ) {}

  private header(revision = this.members.member.stateMachine.revision()): etcd.ResponseHeader {
    return header(revision, this.members.headerContext());
  }

  readonly implementation: ServiceImplementation<typeof etcd.MaintenanceDefinition> = {
    status: () => this.status(),
    hash: () =>
      local(async () => {
        const hash = await this.members.member.stateMachine.hashStore();
        return { header: this.header(hash.revision), hash: hash.hash };
      }),
    hashKV: (req) =>
      local(async () => {
        const hash = await this.members.member.stateMachine.hashKv(Number(req.revision));
        return { header: this.header(hash.revision), hash: hash.hash, compactRevision: BigInt(hash.compactRevision) };
      }),
    defragment: () =>
      local(async () => {
        this.defragmenting ??= this.members.member.stateMachine.defragment().finally(() => {
          this.defragmenting = undefined;
          // Status.dbSize and the space quota must see the smaller database at once.
          this.members.member.disk.invalidate();
        });
        await this.defragmenting;
        return { header: this.header() };
      }),
    snapshot: (_req, call) => this.snapshot(call),
    alarm: (req, call) => this.alarms.alarm(req, call),
    moveLeader: async (req, call) => {
      if (req.targetID === NO_NODE) {
        throw new GrpcStatusError(GrpcStatus.FAILED_PRECONDITION, `${ETCD_CLUSTER_MESSAGES.badLeaderTransferee}: no target member id given`);
      }
      await this.adminService.onLeader('transferLeadership', { targetId: req.targetID }, call);
      return { header: this.header() };
    },
  };

  private async status(): Promise<etcd.StatusResponse> {
    const m = this.members.member;
    const st = m.status();
    const disk = await this.adminService.diskUsage().measure();
    const errors: string[] = [];
    if (st.leader === NO_NODE) errors.push(ETCD_MESSAGES.noLeader);
    const health = m.health();
    if (!health.healthy) errors.push(`keyval: ${health.reason ?? 'unhealthy'}`);
    // etcd lists every active alarm, as its protobuf text ("memberID:N alarm:NOSPACE ").
    errors.push(...m.alarms.active().map(describeAlarm));
    return {
      header: this.header(),
      version: this.version,
      dbSize: BigInt(disk.dbBytes),
      leader: st.leader,
      raftIndex: BigInt(st.commit),
      raftTerm: BigInt(st.term),
      raftAppliedIndex: BigInt(st.applied),
      errors,
      dbSizeInUse: BigInt(Math.min(disk.dbBytes, m.stateMachine.storageBytes().inUse)),
      isLearner: st.config.learners.includes(m.id),
    };
  }

  /**
   * etcd's Snapshot stream: the snapshot's bytes in order, each message with the bytes still to
   * come, zeros to a multiple of 512 bytes, then one message holding the SHA-256 of everything
   * before it (etcd's trailer, which its clients append to the file).
   */
  private snapshot(call: ServerWritableCall<etcd.SnapshotResponse>): Promise<void> {
    return this.adminService.withBackup(async (backup) => {
      const sha = createHash('sha256');
      // etcd's clients accept only 512·n + 32 bytes (a bbolt file is whole pages): zeros up to
      // the next multiple of 512, inside the checksum (libs/statemachine etcd-stream.ts).
      const padding = Buffer.alloc(etcdSnapshotPadding(backup.totalBytes));
      let remaining = backup.totalBytes + padding.byteLength;
      let first = true;
      const send = async (blob: Buffer): Promise<void> => {
        sha.update(blob);
        remaining -= blob.byteLength;
        // The first message's header names the revision the snapshot holds.
        await call.write({ header: first ? this.header(backup.revision) : undefined, remainingBytes: BigInt(remaining), blob });
        first = false;
      };
      for await (const blob of backup.chunks(SNAPSHOT_MESSAGE_BYTES)) {
        await send(blob);
      }
      if (padding.byteLength > 0) {
        await send(padding);
      }
      await call.write({ header: first ? this.header(backup.revision) : undefined, remainingBytes: 0n, blob: sha.digest() });
    });
  }
}

/** Runs a member-local call, answering its failure with the status etcd gives it. */
async function local<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toStatusError(error);
  }
}
