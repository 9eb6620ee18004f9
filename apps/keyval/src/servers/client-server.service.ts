/**
 * The client-facing gRPC servers (one per --listen-client-urls entry): etcd's KV, Watch, Lease,
 * Cluster, Maintenance and grpc.health.v1, etcd's v3lock and v3election, and KeyVal's Admin API, on the lean HTTP/2
 * server. On shutdown (after a leader hands its leadership off) they stop accepting and let
 * in-flight calls finish (watch and keepalive streams end at once with UNAVAILABLE, so their
 * clients resume elsewhere), before the member stops.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import { type ClientTlsOptions, GrpcServer, grpcHealthService, JsonApi } from '@keyval/grpc';
import { routesHandler } from '@keyval/ops';
import { admin, etcd, health, kvbatch, v3election, v3lock } from '@keyval/proto';
import {
  DEFAULT_WATCH_STREAM_OPTIONS,
  ElectionService,
  KvBatchService,
  KvService,
  AlarmService,
  LeaderForwarder,
  LeaseService,
  LockService,
  MemberConcurrencyClient,
  WATCH_SERVICE,
  WatchHub,
  WatchService,
} from '@keyval/api';
import { MONOTONIC_CLOCK } from '@keyval/cluster';
import { AdminService } from '../admin/admin.service';
import { EtcdClusterService } from '../admin/etcd-cluster.service';
import { EtcdMaintenanceService } from '../admin/etcd-maintenance.service';
import { LeaderRouter } from '../admin/leader-router';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { MemberService } from '../member/member.service';
import { MetricsService } from '../metrics/metrics.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER, KEYVAL_TRACING } from '../tokens';
import { TlsStoresService } from '../tls/tls-stores.service';
import type { Tracing } from '../tracing';
import { KEYVAL_VERSION } from '../version';
import { memberRoutes } from './http-endpoints';

@Injectable()
export class ClientServerService implements BeforeApplicationShutdown {
  private readonly servers: GrpcServer[] = [];
  private forwarder: LeaderForwarder | undefined;
  private router: LeaderRouter | undefined;
  private watchHub: WatchHub | undefined;
  private stopDiskFullWatch: (() => void) | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly members: MemberService,
    private readonly tls: TlsStoresService,
    private readonly metrics: MetricsService,
    @Inject(KEYVAL_TRACING) private readonly tracing: Tracing,
  ) {}

  async start(): Promise<void> {
    const grpcMax = this.config.maxRequestBytes + 512 * 1024;
    const tracer = this.tracing.tracer;
    const channelTls = (url: string): ClientTlsOptions | undefined => this.tls.channelTls(url);
    this.forwarder = new LeaderForwarder(this.members, grpcMax, { tlsFor: channelTls, tracer });
    const alarms = new AlarmService(this.members, this.forwarder, {
      defaultTimeoutMs: this.config.requestTimeoutMs,
      onRaiseFailed: (error) => this.logger.warn({ error: String(error) }, 'raising the NOSPACE alarm failed (the write is refused anyway)'),
    });
    const kv = new KvService(this.members, this.forwarder, {
      limits: { maxRequestBytes: this.config.maxRequestBytes, maxTxnOps: this.config.maxTxnOps },
      defaultTimeoutMs: this.config.requestTimeoutMs,
      space: alarms,
    });
    // A full disk raises NOSPACE for this member too (checked once a second, as the WAL probes).
    this.stopDiskFullWatch = alarms.watchDiskFull(1_000);
    const onHandlerError = (error: unknown, path: string): void => this.logger.error({ path, error: String(error), stack: (error as Error).stack }, 'handler failed');
    const batch = new KvBatchService(kv, { onHandlerError, tracer });
    const lease = new LeaseService(this.members, this.forwarder, { defaultTimeoutMs: this.config.requestTimeoutMs, space: alarms });
    this.router = new LeaderRouter(this.members, channelTls);
    const adminService = new AdminService(this.members, this.router, KEYVAL_VERSION);
    const etcdCluster = new EtcdClusterService(this.members, adminService);
    const maintenance = new EtcdMaintenanceService(this.members, adminService, alarms, KEYVAL_VERSION);
    const hub = new WatchHub(this.members.member.stateMachine, {
      onError: (error) => this.logger.error({ error: String(error) }, 'a watch catch-up read failed'),
    });
    this.watchHub = hub;
    // etcd's v3lock and v3election services, over this member's own KV, Lease and Watch.
    const concurrency = new MemberConcurrencyClient(kv.implementation, lease.implementation(), hub, () => this.members.headerContext());
    const lock = new LockService(concurrency);
    const election = new ElectionService(concurrency);
    // etcd serves /metrics, /health, /version... over HTTP/1.1 on its client URL too: told
    // apart from gRPC by the connection's first bytes (@keyval/grpc connection-dispatch).
    const routes = routesHandler(memberRoutes(this.members, this.metrics));
    for (const url of this.config.listenClientUrls) {
      // etcd's JSON API (grpc-gateway paths, POST /v3/...) beside them, over the same services.
      const json = new JsonApi({ maxBodyBytes: grpcMax, requestTimeoutMs: this.config.requestTimeoutMs, observer: this.metrics.grpc });
      const http1 = (req: IncomingMessage, res: ServerResponse): void => (json.handles((req.url ?? '/').split('?')[0] ?? '/') ? json.handle(req, res) : routes(req, res));
      const certificates = this.tls.client;
      const server = new GrpcServer({
        ...this.config.serverLimits,
        tls:
          url.secure && certificates !== undefined
            ? {
                certificates,
                clientCertAuth: this.config.clientTls?.clientCertAuth === true,
                onError: (error, remoteAddress) => this.logger.warn({ remoteAddress, error: error.message }, 'TLS handshake refused'),
              }
            : undefined,
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
      const watch = new WatchService(hub, () => this.members.headerContext(), {
        stream: { ...DEFAULT_WATCH_STREAM_OPTIONS, fragmentBytes: this.config.maxRequestBytes, progressIntervalMs: this.config.watchProgressNotifyIntervalMs },
        clock: MONOTONIC_CLOCK,
        shutdown: server.shutdownSignal,
      });
      server.addService(WATCH_SERVICE, watch.implementation);
      const leaseHandlers = lease.implementation(server.shutdownSignal);
      server.addService(etcd.LeaseDefinition, leaseHandlers);
      server.addService(kvbatch.KVBatchDefinition, batch.implementation, { traceContext: 'explicit' });
      server.addService(etcd.ClusterDefinition, etcdCluster.cluster);
      server.addService(etcd.MaintenanceDefinition, maintenance.implementation);
      server.addService(admin.AdminDefinition, adminService.implementation);
      server.addService(health.HealthDefinition, grpcHealthService(server.shutdownSignal));
      server.addService(v3lock.LockDefinition, lock.implementation);
      server.addService(v3election.ElectionDefinition, election.implementation);
      for (const [service, implementation] of [
        [etcd.KVDefinition, kv.implementation],
        [WATCH_SERVICE, watch.implementation],
        [etcd.LeaseDefinition, leaseHandlers],
        [etcd.MaintenanceDefinition, maintenance.implementation],
        [etcd.ClusterDefinition, etcdCluster.cluster],
        [v3lock.LockDefinition, lock.implementation],
        [v3election.ElectionDefinition, election.implementation],
      ] as const) {
        json.addService(service, implementation);
      }
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
    this.stopDiskFullWatch?.();
    this.forwarder?.close();
    this.router?.close();
    await this.watchHub?.close();
  }
}
