/**
 * Owns the Gateway (from @keyval/gateway-core): starts it when the app starts and drains it
 * when the app stops (refuse new calls, let those in flight finish within --shutdown-grace).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import { Gateway } from '@keyval/gateway-core';
import { routesHandler } from '@keyval/ops';
import { MetricsService } from '../metrics/metrics.service';
import { gatewayRoutes } from '../servers/http-endpoints';
import type { GatewayConfig } from '../config/gateway-config';
import { libLogger } from '../logger';
import type { AppLogger } from '../logger';
import { GATEWAY_CONFIG, GATEWAY_LOGGER, GATEWAY_TRACING } from '../tokens';
import type { Tracing } from '../tracing';

@Injectable()
export class GatewayService implements BeforeApplicationShutdown {
  private started: Gateway | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: AppLogger,
    private readonly metrics: MetricsService,
    @Inject(GATEWAY_TRACING) private readonly tracing: Tracing,
  ) {}

  async start(): Promise<Gateway> {
    const c = this.config;
    this.started = await Gateway.start({
      endpoints: c.endpoints,
      listen: c.listenClientUrls.map((u) => ({ host: u.host, port: u.port })),
      serializableReads: c.serializableReads,
      requestTimeoutMs: c.requestTimeoutMs,
      inflightMax: c.maxInflight,
      sessionsMax: c.maxSessions,
      statusIntervalMs: c.statusIntervalMs,
      memberListIntervalMs: c.memberListIntervalMs,
      connectionsPerMember: c.connectionsPerMember,
      writeBatching: c.writeBatches === 0 ? null : { maxBatchesInFlight: c.writeBatches, maxCallsPerBatch: c.writeBatchMax, maxBatchBytes: 1024 * 1024 },
      maxRequestBytes: c.maxRequestBytes,
      logger: libLogger(this.logger),
      observer: this.metrics.gateway,
      serverObserver: this.metrics.grpc,
      tracer: this.tracing.tracer,
      // /metrics, /health, /readyz... on the client port too, as on a member.
      http1: routesHandler(gatewayRoutes(this, this.metrics)),
    });
    this.metrics.gateway.attach(this.started);
    this.logger.info({ endpoints: c.endpoints, clients: c.listenClientUrls.map((u) => u.url) }, 'gateway started');
    return this.started;
  }

  /** The running gateway, or undefined before start() finished. */
  get gateway(): Gateway | undefined {
    return this.started;
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.started !== undefined) {
      const inflight = this.started.stats().inflight;
      this.logger.info({ inflight, graceMs: this.config.shutdownGraceMs }, 'draining');
      await this.started.shutdown(this.config.shutdownGraceMs);
      this.logger.info('drained');
    }
  }
}
