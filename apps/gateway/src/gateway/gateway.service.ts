/**
 * Owns the Gateway (from @keyval/gateway-core): starts it when the app starts and drains it
 * when the app stops (refuse new calls, let those in flight finish within --shutdown-grace).
 */
import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { Gateway } from '@keyval/gateway-core';
import { CertificateStore, type ClientTlsOptions, type ServerTlsOptions } from '@keyval/grpc';
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
  /** Certificate stores (towards clients, towards members), closed on shutdown. */
  private readonly stores: CertificateStore[] = [];

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
      serverLimits: c.serverLimits,
      serverTls: this.serverTls(),
      upstreamTls: this.upstreamTls(),
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

  private store(files: { certFile: string; keyFile: string; caFile: string | undefined }, side: string): CertificateStore {
    const store = new CertificateStore(files, {
      ...this.config.tlsPolicy,
      onReload: (generation) => this.logger.info({ side, certFile: files.certFile, generation }, 'certificates re-read'),
      onReloadError: (error) => this.logger.warn({ side, error: error.message }, 'certificates changed but do not load; the previous ones stay in use'),
    });
    this.stores.push(store);
    return store;
  }

  private serverTls(): ServerTlsOptions | undefined {
    const t = this.config.serverTls;
    if (t === undefined) {
      return undefined;
    }
    return {
      certificates: this.store(t, 'clients'),
      clientCertAuth: t.clientCertAuth,
      onError: (error, remoteAddress) => this.logger.warn({ remoteAddress, error: error.message }, 'TLS handshake refused'),
    };
  }

  private upstreamTls(): ClientTlsOptions | undefined {
    const t = this.config.upstreamTls;
    if (t === undefined) {
      return undefined;
    }
    if (t.certFile !== undefined && t.keyFile !== undefined) {
      const store = this.store({ certFile: t.certFile, keyFile: t.keyFile, caFile: t.caFile }, 'members');
      return { secureContext: () => store.secureContext(), verifyServer: t.verifyServer };
    }
    const context = tls.createSecureContext({ ca: t.caFile === undefined ? undefined : fs.readFileSync(t.caFile), ...this.config.tlsPolicy });
    return { secureContext: () => context, verifyServer: t.verifyServer };
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
    this.stores.forEach((store) => store.close());
  }
}
