/**
 * Owns the KvMember: opens it when the app starts and shuts it down gracefully (leadership
 * hand-off, driver stop, storage close) when the app stops. Also adapts it to the KV
 * service's backend.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { KvMember } from '@keyval/cluster';
import type { HeaderContext, KvBackend, LeaderLocator, LeaseBackend } from '@keyval/api';
import type { RenewOutcome } from '@keyval/cluster';
import type { NodeId } from '@keyval/raft';
import type { LeaseInfo, LeaseRecord, RangeRequest, RangeResponse, SessionHeader, WriteRequest, WriteResponse } from '@keyval/statemachine';
import type { KeyvalConfig } from '../config/keyval-config';
import { libLogger } from '../logger';
import type { AppLogger } from '../logger';
import { KEYVAL_CONFIG, KEYVAL_LOGGER } from '../tokens';

@Injectable()
export class MemberService implements KvBackend, LeaseBackend, LeaderLocator, OnApplicationShutdown {
  private opened: KvMember | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
  ) {}

  /** Opens the member (called by main before the servers start). */
  async open(onFatal: (error: Error) => void): Promise<KvMember> {
    const c = this.config;
    this.opened = await KvMember.open({
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
      ...(c.autoCompaction !== undefined && { autoCompaction: c.autoCompaction }),
      onRemoved: () => {
        this.logger.warn('this member was removed from the cluster; stopping');
        process.kill(process.pid, 'SIGTERM');
      },
      logger: libLogger(this.logger),
      onFatal,
    });
    this.logger.info({ memberId: this.opened.id.toString(16), clusterId: this.opened.clusterId.toString(16) }, 'member started');
    if (this.logger.isLevelEnabled('debug')) {
      const member = this.opened;
      let last = { ...member.driver.counters };
      const timer = setInterval(() => {
        const now = { ...member.driver.counters };
        const delta = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, Math.round((v - last[k as keyof typeof last]) * 10) / 10]));
        last = now;
        this.logger.debug(delta, 'driver counters (last 5 s)');
      }, 5_000);
      timer.unref();
    }
    return this.opened;
  }

  get member(): KvMember {
    if (this.opened === undefined) {
      throw new Error('the member is not open yet');
    }
    return this.opened;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.opened !== undefined) {
      this.logger.info('shutting down the member');
      await this.opened.shutdown();
      this.opened = undefined;
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

  write(op: WriteRequest, session: SessionHeader | undefined, deadlineMs: number): Promise<WriteResponse> {
    return this.member.write(op, session, deadlineMs);
  }

  range(request: RangeRequest, consistency: 'linearizable' | 'serializable', deadlineMs: number): Promise<RangeResponse> {
    return this.member.range(request, consistency, deadlineMs);
  }

  revision(): number {
    return this.member.stateMachine.revision();
  }

  compacted(revision: number): Promise<void> {
    return this.member.stateMachine.compacted(revision);
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

  clientUrlsOf(id: NodeId): readonly string[] {
    return this.member.membership().members.find((m) => m.id === id)?.clientUrls ?? [];
  }
}
