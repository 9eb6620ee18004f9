/**
 * The extra HTTP listeners of --listen-metrics-urls (none by default: the client URLs serve the
 * same endpoints): /metrics, /health, /healthz, /readyz, /livez, /version.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { startHealthServer } from '@keyval/ops';
import type { HealthServer } from '@keyval/ops';
import type { GatewayConfig } from '../config/gateway-config';
import { GatewayService } from '../gateway/gateway.service';
import type { AppLogger } from '../logger';
import { MetricsService } from '../metrics/metrics.service';
import { GATEWAY_CONFIG, GATEWAY_LOGGER } from '../tokens';
import { gatewayRoutes } from './http-endpoints';

@Injectable()
export class HealthServerService implements OnApplicationShutdown {
  private server: HealthServer | undefined;

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: AppLogger,
    private readonly gateways: GatewayService,
    private readonly metrics: MetricsService,
  ) {}

  async start(): Promise<void> {
    this.server = await startHealthServer(this.config.listenMetricsUrls, gatewayRoutes(this.gateways, this.metrics), (url) => this.logger.info({ url }, 'serving health and metrics'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}
