/**
 * HTTP endpoints for supervisors: /healthz (the gateway runs), /readyz (it knows a leader
 * and is not draining) and /metrics (Prometheus text: calls, retries, leader changes,
 * indeterminate writes...). One server per --listen-metrics-urls entry.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { startHealthServer } from '@keyval/ops';
import type { HealthServer, HttpAnswer } from '@keyval/ops';
import type { Gateway } from '@keyval/gateway-core';
import type { GatewayConfig } from '../config/gateway-config';
import { GatewayService } from '../gateway/gateway.service';
import type { AppLogger } from '../logger';
import { GATEWAY_CONFIG, GATEWAY_LOGGER } from '../tokens';
import { formatMetrics } from './metrics-text';

@Injectable()
export class HealthServerService implements OnApplicationShutdown {
  private server: HealthServer | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: AppLogger,
    private readonly gateways: GatewayService,
  ) {}

  private withGateway(fn: (gateway: Gateway) => HttpAnswer): () => HttpAnswer {
    return () => {
      const gateway = this.gateways.gateway;
      return gateway === undefined ? { status: 503, body: { status: 'starting' } } : fn(gateway);
    };
  }

  async start(): Promise<void> {
    const health = this.withGateway((g) => {
      const h = g.health();
      return { status: h.healthy ? 200 : 503, body: h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason } };
    });
    this.server = await startHealthServer(
      this.config.listenMetricsUrls,
      {
        '/healthz': health,
        '/health': health,
        '/readyz': this.withGateway((g) => {
          const r = g.ready();
          return { status: r.ready ? 200 : 503, body: { ...r, members: g.directory.describe().members } };
        }),
        '/metrics': this.withGateway((g) => ({ status: 200, body: formatMetrics(g.stats()), contentType: 'text/plain; version=0.0.4' })),
      },
      (url) => this.logger.info({ url }, 'serving health and metrics'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}
