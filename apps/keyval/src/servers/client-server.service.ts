/**
 * The client-facing gRPC servers (one per --listen-client-urls entry): etcd's KV, Cluster
 * and Maintenance (status, move-leader), and KeyVal's Admin API, on the lean HTTP/2 server.
 * On shutdown (after a leader hands its leadership off) they stop accepting and let in-flight
 * calls finish, before the member stops.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import { GrpcServer } from '@keyval/grpc';
import { routesHandler } from '@keyval/ops';
import { admin, etcd, kvbatch } from '@keyval/proto';
import { KvBatchService, KvService, LeaderForwarder } from '@keyval/api';
import { AdminService } from '../admin/admin.service';
import { EtcdClusterService } from '../admin/etcd-cluster.service';
import { LeaderRouter } from '../admin/leader-router';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { MemberService } from '../member/member.service';
import { MetricsService } from '../metrics/metrics.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER, KEYVAL_TRACING } from '../tokens';
import type { Tracing } from '../tracing';
import { KEYVAL_VERSION } from '../version';
import { memberRoutes } from './http-endpoints';

@Injectable()
export class ClientServerService implements BeforeApplicationShutdown {
  private readonly servers: GrpcServer[] = [];
  private forwarder: LeaderForwarder | undefined;
  private router: LeaderRouter | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly members: MemberService,
    private readonly metrics: MetricsService,
    @Inject(KEYVAL_TRACING) private readonly tracing: Tracing,
  ) {}

  async start(): Promise<void> {
    const grpcMax = this.config.maxRequestBytes + 512 * 1024;
    const tracer = this.tracing.tracer;
    this.forwarder = new LeaderForwarder(this.members, grpcMax, tracer);
    const kv = new KvService(this.members, this.forwarder, {
      limits: { maxRequestBytes: this.config.maxRequestBytes, maxTxnOps: this.config.maxTxnOps },
      defaultTimeoutMs: this.config.requestTimeoutMs,
    });
    const onHandlerError = (error: unknown, path: string): void => this.logger.error({ path, error: String(error), stack: (error as Error).stack }, 'handler failed');
    const batch = new KvBatchService(kv, { onHandlerError, tracer });
    this.router = new LeaderRouter(this.members);
    const adminService = new AdminService(this.members, this.router, KEYVAL_VERSION, this.config.dataDir);
    const etcdCluster = new EtcdClusterService(this.members, adminService, KEYVAL_VERSION);
    // etcd serves /metrics, /health, /version... over HTTP/1.1 on its client URL too: told
    // apart from gRPC by the connection's first bytes (@keyval/grpc connection-dispatch).
    const http1 = routesHandler(memberRoutes(this.members, this.metrics));
    for (const url of this.config.listenClientUrls) {
      const server = new GrpcServer({
        maxReceiveMessageBytes: grpcMax,
        maxSendMessageBytes: 64 * 1024 * 1024,
        onHandlerError,
        observer: this.metrics.grpc,
        http1,
        tracer,
      });
      // The KV services pass their calls' spans on explicitly (ServerCall.traceContext), not
      // through OpenTelemetry's context manager: no context switch per write or read.
      server.addService(etcd.KVDefinition, kv.implementation, { traceContext: 'explicit' });
      server.addService(kvbatch.KVBatchDefinition, batch.implementation, { traceContext: 'explicit' });
      server.addService(etcd.ClusterDefinition, etcdCluster.cluster);
      server.addService(etcd.MaintenanceDefinition, etcdCluster.maintenance);
      server.addService(admin.AdminDefinition, adminService.implementation);
      await server.listen(url.port, url.host);
      this.servers.push(server);
      this.logger.info({ url: url.url }, 'serving clients');
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Leadership moves first: the drain below may wait for long calls.
    await this.members.handOffLeadership();
    this.logger.info('draining client connections');
    await Promise.all(this.servers.map((s) => s.shutdown(5_000)));
    this.forwarder?.close();
    this.router?.close();
  }
}
