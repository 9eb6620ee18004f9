/**
 * A KeyVal member: the durable log (WAL), the RocksDB state machine, the gRPC peer transport
 * and the driver, composed. The app layer (apps/keyval) only adapts it to gRPC and HTTP.
 *
 *     data dir ─┬─ member.json   identity (member id, cluster id)
 *               ├─ wal/          the Raft log (libs/storage)
 *               └─ sm/           RocksDB generations and snapshot files (libs/statemachine)
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { etcd } from '@keyval/proto';
import { NO_NODE, ConfChangeType, NotLeaderError, ReadMode, SeededRandom } from '@keyval/raft';
import type { LogIndex, NodeId, RaftStatus } from '@keyval/raft';
import { WalLogStore } from '@keyval/storage';
import type { LogStore } from '@keyval/storage';
import { RocksStateMachine, encodeCommand } from '@keyval/statemachine';
import type { ApplyResult, MembershipState, RangeRequest, RangeResponse, SessionHeader, StateMachine, WriteRequest, WriteResponse } from '@keyval/statemachine';
import { RaftDriver } from '../driver/raft-driver';
import { GrpcPeerTransport } from '../transport/grpc-transport';
import type { MemberAttributes } from '../transport/transport';
import { lockDataDir } from './data-dir-lock';
import type { DataDirLock } from './data-dir-lock';
import { bootstrap, newIdentity } from './member-bootstrap';
import { peerMemberList } from './member-discovery';
import { MemberPeers } from './member-peers';
import { RemovalWatch } from './removal-watch';
import { readIdentity, writeIdentity } from './member-identity';
import type { MemberIdentity } from './member-identity';
import { MemberConfigError } from './member-options';
import { MembershipManager, MembershipRefusedError } from './membership-manager';
import type { KvMemberOptions } from './member-options';
import { SnapshotAdapter, StateMachineAdapter } from './state-machine-adapters';
import { AutoCompactor } from './auto-compactor';
import { DiskUsageProbe } from './disk-usage';
import { MemberAlarms } from './member-alarms';
import { DEFAULT_QUOTA_BACKEND_BYTES } from './space-quota';
import { DEFAULT_LESSOR_OPTIONS, Lessor, minLeaseTtlSeconds } from './lessor';
import { MONOTONIC_CLOCK } from '../driver/clock';
import type { Context } from '@opentelemetry/api';

export type ReadConsistency = 'linearizable' | 'serializable';

export class KvMember {
  readonly membershipOps: MembershipManager;
  /** Lease expiry on the leader (leases themselves are in the state machine). */
  readonly lessor: Lessor;
  /** The space quota and the alarms (etcd's Maintenance.Alarm). */
  readonly alarms: MemberAlarms;
  /**
   * What the data dir holds on disk, cached for a second: the one probe Status, the metrics
   * and the space quota read (invalidated after a defragment and when NOSPACE is disarmed).
   */
  readonly disk: DiskUsageProbe;
  /** Which peers the transport can send to. */
  private readonly peers: MemberPeers;
  private promoteTimer: NodeJS.Timeout | undefined;
  private lock: DataDirLock | undefined;

  private constructor(
    readonly identity: MemberIdentity,
    private readonly options: KvMemberOptions,
    readonly logStore: LogStore,
    readonly stateMachine: StateMachine,
    readonly transport: GrpcPeerTransport,
    readonly driver: RaftDriver<ApplyResult>,
    /** The commit index known when the member started: it is ready once applied past it. */
    private readonly startupCommit: LogIndex,
  ) {
    this.peers = new MemberPeers(identity.memberId, identity.clusterId, transport, options);
    this.membershipOps = new MembershipManager(
      { id: identity.memberId, driver, membership: () => stateMachine.membership(), clusterToken: options.initialClusterToken },
      { promoteLagEntries: options.promoteLagEntries, autoPromote: options.autoPromoteLearners },
    );
    this.disk = new DiskUsageProbe(options.dataDir);
    this.alarms = new MemberAlarms({
      driver,
      stateMachine,
      disk: this.disk,
      quotaBytes: options.quotaBackendBytes ?? DEFAULT_QUOTA_BACKEND_BYTES,
      leaseReads: options.leaseReads,
      logger: options.logger,
    });
    this.lessor = new Lessor(
      {
        leases: () => stateMachine.leases(),
        lease: (id) => stateMachine.lease(id),
        propose: (op) => this.write(op, undefined, performance.now() + 10_000),
      },
      MONOTONIC_CLOCK,
      { ...DEFAULT_LESSOR_OPTIONS, extendMs: options.electionMs },
      options.logger,
    );
  }

  /** etcd's minimum lease TTL for this member's timing, seconds. */
  get minLeaseTtlSeconds(): number {
    return minLeaseTtlSeconds(this.options.electionMs, this.options.heartbeatMs);
  }

  get id(): NodeId {
    return this.identity.memberId;
  }

  get clusterId(): bigint {
    return this.identity.clusterId;
  }

  /** How this member was started: its name, data dir and advertised URLs. */
  get settings(): Pick<KvMemberOptions, 'name' | 'dataDir' | 'advertisePeerUrls' | 'advertiseClientUrls' | 'promoteLagEntries'> {
    return this.options;
  }

  /** Opens (or creates) the member's data, joins the cluster and starts the driver. */
  static async open(options: KvMemberOptions): Promise<KvMember> {
    await fs.mkdir(options.dataDir, { recursive: true });
    const lock = await lockDataDir(options.dataDir);
    try {
      return await KvMember.openLocked(options, lock);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  private static async openLocked(options: KvMemberOptions, lock: DataDirLock): Promise<KvMember> {
    const existing = await readIdentity(options.dataDir);
    const identity = existing ?? (await newIdentity(options));
    if (existing !== undefined && existing.name !== options.name) {
      throw new MemberConfigError(`--name ${options.name} does not match the data dir, which belongs to member ${existing.name}`);
    }
    const observer = options.observer;
    const logStore = await WalLogStore.open(options.dataDir, { logger: options.logger, observer: observer?.wal });
    const stateMachine = await RocksStateMachine.open({ dataDir: path.join(options.dataDir, 'sm'), observer: observer?.backend });
    if (existing === undefined && options.initialClusterState === 'new' && logStore.lastIndex() === 0) {
      await bootstrap(logStore, options);
    }
    if (existing === undefined) {
      await writeIdentity(options.dataDir, identity);
    }
    const startupCommit = logStore.hardState().commit;
    const receiver = { driver: undefined as RaftDriver<ApplyResult> | undefined, member: undefined as KvMember | undefined };
    const transport = new GrpcPeerTransport({
      clusterId: identity.clusterId,
      self: identity.memberId,
      tls: options.peerTls,
      observer: observer?.transport,
      advertisePeerUrls: options.advertisePeerUrls,
      onRemoteLearned: (id, url) => options.logger.info('answering a peer not in the applied membership at the address it sent', { peer: id.toString(16), url }),
      receiver: {
        deliver: (messages) => receiver.driver?.deliver(messages),
        receiveSnapshot: (offer, chunks, progress) => {
          if (receiver.driver === undefined) {
            return Promise.reject(new Error('the member is still starting'));
          }
          return receiver.driver.receiveSnapshot(offer, chunks, progress);
        },
        publishAttributes: (attributes) => {
          if (receiver.member === undefined) {
            return Promise.reject(new Error('the member is still starting'));
          }
          return receiver.member.recordAttributes(attributes);
        },
      },
    });
    const driver = new RaftDriver<ApplyResult>({
      raft: {
        id: identity.memberId,
        electionTimeoutTicks: Math.max(2, Math.round(options.electionMs / options.tickMs)),
        heartbeatTicks: Math.max(1, Math.round(options.heartbeatMs / options.tickMs)),
        random: new SeededRandom(Number(identity.memberId & 0xffff_ffffn) ^ (performance.now() * 1000)),
        preVote: true,
        checkQuorum: true,
        leaseReads: options.leaseReads,
      },
      tickMs: options.tickMs,
      logStore,
      stateMachine: new StateMachineAdapter(stateMachine),
      snapshots: new SnapshotAdapter(stateMachine, observer?.snapshots, () => receiver.member?.peers.update(stateMachine.membership())),
      transport,
      logger: options.logger,
      snapshotEveryEntries: options.snapshotEveryEntries,
      compactionTrailingEntries: options.compactionTrailingEntries,
      onApplied: (_entries, results) => receiver.member?.onApplied(results),
      onFatal: options.onFatal,
      observer: observer?.driver,
      tracer: options.tracer,
    });
    receiver.driver = driver;
    const member = new KvMember(identity, options, logStore, stateMachine, transport, driver, startupCommit);
    member.lock = lock;
    receiver.member = member;
    member.peers.update(stateMachine.membership());
    if (stateMachine.membership().members.length === 0 && options.initialClusterState === 'existing') {
      await member.peers.seedFromCluster();
    }
    transport.addService(etcd.ClusterService, { memberList: member.serveMemberList });
    await transport.listen(options.listenPeer);
    await driver.start();
    member.startPublishing();
    member.promoteTimer = setInterval(() => {
      if (driver.isLeader()) {
        member.membershipOps.autoPromote(performance.now() + 2_000).then(
          (id) => id !== undefined && options.logger.info('promoted a caught-up learner', { member: id.toString(16) }),
          (error: unknown) => options.logger.warn('automatic promotion failed', { error: String(error) }),
        );
      }
    }, 1_000);
    member.promoteTimer.unref();
    member.startRemovalWatch();
    member.startAutoCompaction();
    member.startLessor();
    return member;
  }

  private autoCompactor: AutoCompactor | undefined;

  /** The lessor leads while this member does. */
  private startLessor(): void {
    this.driver.onLeaderChange((leader) => {
      if (leader === this.id) {
        this.lessor.promote();
      } else {
        this.lessor.demote();
      }
    });
    if (this.driver.isLeader()) {
      this.lessor.promote();
    }
    this.lessor.start();
  }

  private startAutoCompaction(): void {
    const options = this.options.autoCompaction;
    if (options === undefined) {
      return;
    }
    const target = {
      revision: () => this.stateMachine.revision(),
      isLeader: () => this.driver.isLeader(),
      compact: (revision: number) => this.compact(revision, performance.now() + 10_000),
    };
    this.autoCompactor = new AutoCompactor(options, target, MONOTONIC_CLOCK, this.options.logger);
    this.autoCompactor.start();
  }

  /** Compacts the history at `revision` (leader only); resolves once applied. Throws CompactedError, FutureRevisionError. */
  async compact(revision: number, deadlineMs: number): Promise<void> {
    await this.write({ type: 'compact', request: { revision } }, undefined, deadlineMs);
  }

  private publishTimer: NodeJS.Timeout | undefined;
  private removalWatch: RemovalWatch | undefined;
  private removedNotified = false;

  /** Watches (while there is no leader) whether the other members still list this one. */
  private startRemovalWatch(): void {
    this.removalWatch = new RemovalWatch({
      id: this.id,
      clusterId: this.clusterId,
      leaderKnown: () => this.driver.status().leader !== NO_NODE,
      peers: () => this.membership().members.flatMap((m) => (m.peerUrls[0] === undefined ? [] : [{ id: m.id, url: m.peerUrls[0] }])),
      memberList: async (url, timeoutMs) => {
        const r = await peerMemberList(url, timeoutMs, this.options.peerTls);
        return { clusterId: r.header?.clusterId ?? 0n, memberIds: r.members.map((m) => m.ID) };
      },
      onRemoved: () => this.notifyRemoved(),
      logger: this.options.logger,
    });
    this.removalWatch.start();
  }

  /** Tells the owner (once) that this member is no longer part of the cluster. */
  private notifyRemoved(): void {
    if (!this.removedNotified) {
      this.removedNotified = true;
      this.options.onRemoved?.();
    }
  }

  /** Publishes this member's name and client URLs until the members table shows them. */
  private startPublishing(): void {
    const attempt = async (): Promise<void> => {
      const mine = this.membership().members.find((m) => m.id === this.id);
      const wanted = { id: this.id, name: this.options.name, clientUrls: this.options.advertiseClientUrls };
      if (mine !== undefined && mine.name === wanted.name && mine.clientUrls.join(',') === wanted.clientUrls.join(',')) {
        return;
      }
      const leader = this.status().leader;
      if (leader !== NO_NODE) {
        try {
          if (leader === this.id) {
            await this.recordAttributes(wanted);
          } else {
            await this.transport.publishAttributes(leader, wanted, 2_000);
          }
        } catch (error) {
          this.options.logger.warn('publishing member attributes failed; will retry', { error: String(error) });
        }
      }
      this.publishTimer = setTimeout(() => void attempt(), 200);
      this.publishTimer.unref();
    };
    void attempt();
  }

  /** As leader: records a member's published attributes; resolves once applied. */
  async recordAttributes(attributes: MemberAttributes): Promise<void> {
    const data = encodeCommand({ timestampMs: Date.now(), op: { type: 'memberAttributes', id: attributes.id, name: attributes.name, clientUrls: attributes.clientUrls } });
    await this.driver.propose(data, performance.now() + 2_000);
  }

  private onApplied(results: readonly ApplyResult[]): void {
    let replayed = 0;
    for (const r of results) {
      if ((r.kind === 'response' || r.kind === 'rejected') && r.replayed) {
        replayed++;
      }
      if (r.kind === 'response' && r.response.type === 'leaseGrant') {
        // (Revokes need nothing: the lessor forgets leases gone from the state machine.)
        this.lessor.granted(r.response.response.id, r.response.response.ttl);
      }
      if (r.kind === 'alarm') {
        this.alarms.applied(r.action, r.alarms);
      }
      if (r.kind === 'memberUpdate' && r.refused === undefined) {
        this.peers.update(r.membership);
      }
      if (r.kind === 'confChange') {
        this.peers.update(r.membership);
        if (r.change.type === ConfChangeType.RemoveMember && r.change.nodeId === this.id) {
          this.options.logger.warn('this member was removed from the cluster');
          this.notifyRemoved();
        }
      }
    }
    if (replayed > 0) {
      this.options.observer?.replayedWrites(replayed);
    }
  }

  /**
   * Removes a member. Removing the leader moves leadership first (to the most caught-up
   * voter) and then answers NotLeaderError naming the new leader, to which the caller
   * forwards the request.
   */
  async removeMember(id: NodeId, force: boolean, deadlineMs: number): Promise<void> {
    if (id === this.id && this.driver.isLeader()) {
      // Refuse an unsafe removal before leadership moves, not after.
      await this.membershipOps.ensureRemovable(id, force, deadlineMs);
      await this.handOffLeadership(Math.max(0, deadlineMs - performance.now()));
      const leader = this.status().leader;
      if (this.driver.isLeader() || leader === NO_NODE) {
        throw new MembershipRefusedError('could not move leadership away from the member being removed; try again', 'leader-handoff');
      }
      throw new NotLeaderError(leader);
    }
    await this.membershipOps.remove(id, force, deadlineMs);
  }

  /** Cluster.MemberList on the peer port, for members joining with an empty data dir. */
  private readonly serveMemberList = (_call: unknown, callback: (error: null, response: etcd.MemberListResponse) => void): void => {
    callback(null, { header: { clusterId: this.clusterId, memberId: this.id, revision: BigInt(this.stateMachine.revision()), raftTerm: BigInt(this.driver.status().term) }, members: this.memberList() });
  };

  /** The members as etcd lists them. */
  memberList(): etcd.Member[] {
    const membership = this.stateMachine.membership();
    const learners = new Set(membership.config.learners);
    return membership.members.map((m) => ({ ID: m.id, name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: learners.has(m.id) }));
  }

  /** Proposes a write (leader only) and resolves with its response once applied. */
  async write(op: WriteRequest, session: SessionHeader | undefined, deadlineMs: number, trace?: Context): Promise<WriteResponse> {
    const data = encodeCommand({ timestampMs: Date.now(), session, op });
    const result = await this.driver.propose(data, deadlineMs, trace);
    if (result.kind === 'response') {
      return result.response;
    }
    if (result.kind === 'rejected') {
      throw result.error;
    }
    throw new Error(`a write applied as ${result.kind}`);
  }

  /** A range read: linearizable (ReadIndex, or the lease if enabled) or serializable (local). */
  async range(request: RangeRequest, consistency: ReadConsistency, deadlineMs: number, trace?: Context): Promise<RangeResponse> {
    if (consistency === 'linearizable') {
      await this.readBarrier(deadlineMs, trace);
    }
    return this.stateMachine.range(request);
  }

  /**
   * Resolves once this member has applied everything committed before the call, as a
   * linearizable read does (ReadIndex, or the lease if enabled) — on the leader it also
   * confirms it still leads. Rejects as a read barrier does (not leader, deadline). `mode`
   * overrides the read mode: ReadMode.Lease before a lease renewal, which rests on bounded
   * clock drift already (etcd 3.5 confirms leadership before each renewal; 3.4 not).
   */
  async readBarrier(deadlineMs: number, trace?: Context, mode = this.options.leaseReads ? ReadMode.Lease : ReadMode.Safe): Promise<void> {
    await this.driver.readBarrier(mode, deadlineMs, trace);
  }

  membership(): MembershipState {
    return this.stateMachine.membership();
  }

  status(): RaftStatus & { applied: LogIndex } {
    return this.driver.status();
  }

  /** Ready: a leader is known and the state machine has applied what was committed at start. */
  ready(): { ready: boolean; reason?: string } {
    const st = this.driver.status();
    if (st.leader === NO_NODE) {
      return { ready: false, reason: 'no leader' };
    }
    if (st.applied < this.startupCommit) {
      return { ready: false, reason: `applied ${st.applied} of the ${this.startupCommit} committed at start` };
    }
    return { ready: true };
  }

  /** Healthy: the log store accepts writes and the driver runs. */
  health(): { healthy: boolean; reason?: string } {
    const h = this.logStore.health();
    return h.writable ? { healthy: true } : { healthy: false, reason: `log store ${h.state}${h.detail === undefined ? '' : `: ${h.detail}`}` };
  }

  /**
   * Graceful stop: hand leadership to the most caught-up voter (if leader), wait a little for
   * it, stop the driver, then close transport and storage.
   */
  async shutdown(handoffMs = 2_000): Promise<void> {
    if (this.publishTimer !== undefined) {
      clearTimeout(this.publishTimer);
    }
    this.removalWatch?.stop();
    await this.autoCompactor?.stop();
    this.lessor.stop();
    if (this.promoteTimer !== undefined) {
      clearInterval(this.promoteTimer);
    }
    if (this.driver.isLeader()) {
      await this.handOffLeadership(handoffMs).catch((error: unknown) => this.options.logger.warn('leadership hand-off failed', { error: String(error) }));
    }
    this.driver.stop();
    await this.driver.drain();
    await this.transport.close();
    await this.logStore.close();
    await this.stateMachine.close();
    await this.lock?.release();
  }

  /** Moves leadership to the most caught-up voter and waits (bounded) for it to take over. */
  async handOffLeadership(timeoutMs: number): Promise<void> {
    const st = this.driver.status();
    let best: { id: NodeId; match: number } | undefined;
    for (const [id, pr] of st.progress ?? []) {
      if (id !== this.id && !pr.isLearner && (best === undefined || pr.match > best.match)) {
        best = { id, match: pr.match };
      }
    }
    if (best === undefined) {
      return;
    }
    this.driver.transferLeadership(best.id);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.driver.isLeader()) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
