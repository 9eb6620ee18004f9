/**
 * Owns the KvMember: opens it when the app starts and shuts it down gracefully (leadership
 * hand-off, driver stop, storage close) when the app stops. Also adapts it to the KV
 * service's backend.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { KvMember, MAX_RECOMMENDED_QUOTA_BACKEND_BYTES } from '@keyval/cluster';
import type { AlarmBackend, HeaderContext, KvBackend, LeaderLocator, LeaseBackend } from '@keyval/api';
import type { RenewOutcome, SpaceVerdict } from '@keyval/cluster';
import { ReadMode } from '@keyval/raft';
import type { NodeId } from '@keyval/raft';
import type { AlarmAction, AlarmRecord, AlarmType, LeaseInfo, LeaseRecord, RangeRequest, RangeResponse, SessionHeader, WriteRequest, WriteResponse } from '@keyval/statemachine';
import type { KeyvalConfig } from '../config/keyval-config';
import { libLogger } from '../logger';
import type { AppLogger } from '../logger';
import { MetricsService } from '../metrics/metrics.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER, KEYVAL_TRACING } from '../tokens';
import { TlsStoresService } from '../tls/tls-stores.service';
import type { Tracing } from '../tracing';
import type { Context } from '@opentelemetry/api';

@Injectable()
export class MemberService implements KvBackend, LeaseBackend, AlarmBackend, LeaderLocator, OnApplicationShutdown {
  private current: KvMember | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly tls: TlsStoresService,
    private readonly metrics: MetricsService,
    @Inject(KEYVAL_TRACING) private readonly tracing: Tracing,
  ) {}

  /** The member once open (undefined while starting and after shutdown). */
  get opened(): KvMember | undefined {
    return this.current;
  }

  /** Opens the member (called by main before the servers start). */
  async open(onFatal: (error: Error) => void): Promise<KvMember> {
    const c = this.config;
    this.current = await KvMember.open({
      name: c.name,
      dataDir: c.dataDir,
      listenPeer: `${c.listenPeerUrl.host}:${c.listenPeerUrl.port}`,
      advertisePeerUrls: c.initialAdvertisePeerUrls,
      advertiseClientUrls: c.advertiseClientUrls,
      initialCluster: c.initialCluster,
      initialClusterState: c.initialClusterState,
      initialClusterToken: c.initialClusterToken,
      heartbeatMs: c.heartbeatMs,
      electionMs: c.electionMs,
      tickMs: c.tickMs,
      leaseReads: c.leaseReads,
      snapshotEveryEntries: c.snapshotCount,
      compactionTrailingEntries: c.snapshotCatchupEntries,
      promoteLagEntries: c.learnerPromoteLag,
      autoPromoteLearners: c.autoPromoteLearners,
      peerTls: this.tls.peerTls,
      ...(c.autoCompaction !== undefined && { autoCompaction: c.autoCompaction }),
      quotaBackendBytes: c.quotaBackendBytes,
      onRemoved: () => {
        this.logger.warn('this member was removed from the cluster; stopping');
        process.kill(process.pid, 'SIGTERM');
      },
      logger: libLogger(this.logger),
      onFatal,
      observer: this.metrics.member,
      tracer: this.tracing.tracer,
    });
    this.metrics.member.attach(this.current);
    this.logger.info({ memberId: this.current.id.toString(16), clusterId: this.current.clusterId.toString(16), quotaBackendBytes: c.quotaBackendBytes }, 'member started');
    if (c.quotaBackendBytes > MAX_RECOMMENDED_QUOTA_BACKEND_BYTES) {
      this.logger.warn({ quotaBackendBytes: c.quotaBackendBytes, maximumRecommended: MAX_RECOMMENDED_QUOTA_BACKEND_BYTES }, 'backend quota exceeds the maximum recommended quota');
    }
    if (this.logger.isLevelEnabled('debug')) {
      const member = this.current;
      let last = { ...member.driver.counters };
      const timer = setInterval(() => {
        const now = { ...member.driver.counters };
        const delta = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, Math.round((v - last[k as keyof typeof last]) * 10) / 10]));
        last = now;
        this.logger.debug(delta, 'driver counters (last 5 s)');
      }, 5_000);
      timer.unref();
    }
    return this.current;
  }

  get member(): KvMember {
    if (this.current === undefined) {
      throw new Error('the member is not open yet');
    }
    return this.current;
  }

  /**
   * First step of a graceful stop, before the client connections drain: a leader hands its
   * leadership to the most caught-up voter (bounded by `timeoutMs`), so the cluster is not
   * left without one while long calls (streams) finish.
   */
  async handOffLeadership(timeoutMs = 2_000): Promise<void> {
    const m = this.current;
    if (m === undefined || !m.driver.isLeader()) {
      return;
    }
    this.logger.info('handing leadership off');
    await m.handOffLeadership(timeoutMs).catch((error: unknown) => this.logger.warn({ error: String(error) }, 'leadership hand-off failed'));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.current !== undefined) {
      this.logger.info('shutting down the member');
      await this.current.shutdown();
      this.current = undefined;
    }
  }

  headerContext(): HeaderContext {
    return { clusterId: this.member.clusterId, memberId: this.member.id, raftTerm: this.member.driver.currentTerm() };
  }

  isLeader(): boolean {
    return this.member.driver.isLeader();
  }

  leaderId(): NodeId {
    return this.member.driver.currentLeader();
  }

  waitForLeader(deadlineMs: number): Promise<NodeId> {
    return this.member.driver.waitForLeader(deadlineMs);
  }

  write(op: WriteRequest, session: SessionHeader | undefined, deadlineMs: number, trace?: Context): Promise<WriteResponse> {
    return this.member.write(op, session, deadlineMs, trace);
  }

  range(request: RangeRequest, consistency: 'linearizable' | 'serializable', deadlineMs: number, trace?: Context): Promise<RangeResponse> {
    return this.member.range(request, consistency, deadlineMs, trace);
  }

  revision(): number {
    return this.member.stateMachine.revision();
  }

  compacted(revision: number): Promise<void> {
    return this.member.stateMachine.compacted(revision);
  }

  readBarrier(deadlineMs: number): Promise<void> {
    return this.member.readBarrier(deadlineMs);
  }

  renewalBarrier(deadlineMs: number): Promise<void> {
    return this.member.readBarrier(deadlineMs, undefined, ReadMode.Lease);
  }

  renewLease(id: bigint): RenewOutcome {
    return this.member.lessor.renew(id);
  }

  leaseRemaining(id: bigint): { remainingSeconds: number; ttl: number } | 'not-found' | 'not-primary' {
    return this.member.lessor.remaining(id);
  }

  leases(): readonly LeaseRecord[] {
    return this.member.stateMachine.leases();
  }

  lease(id: bigint): LeaseInfo | undefined {
    return this.member.stateMachine.lease(id);
  }

  minLeaseTtlSeconds(): number {
    return this.member.minLeaseTtlSeconds;
  }

  memberId(): bigint {
    return this.member.id;
  }

  checkSpace(op: WriteRequest): Promise<SpaceVerdict> {
    return this.member.alarms.check(op);
  }

  changeAlarm(action: AlarmAction, memberId: NodeId, alarm: AlarmType, deadlineMs: number): Promise<readonly AlarmRecord[]> {
    return this.member.alarms.change(action, memberId, alarm, deadlineMs);
  }

  listAlarms(deadlineMs: number): Promise<readonly AlarmRecord[]> {
    return this.member.alarms.list(deadlineMs);
  }

  activeAlarms(): readonly AlarmRecord[] {
    return this.member.alarms.active();
  }

  diskFull(): boolean {
    return this.member.logStore.health().state === 'disk-full';
  }

  clientUrlsOf(id: NodeId): readonly string[] {
    return this.member.membership().members.find((m) => m.id === id)?.clientUrls ?? [];
  }
}
