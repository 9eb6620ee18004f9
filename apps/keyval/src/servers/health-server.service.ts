/**
 * The extra HTTP listeners of --listen-metrics-urls (none by default: the client URLs serve the
 * same endpoints): /metrics, /health, /healthz, /readyz, /livez, /version.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { startHealthServer } from '@keyval/ops';
import type { HealthServer } from '@keyval/ops';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { MemberService } from '../member/member.service';
import { MetricsService } from '../metrics/metrics.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER } from '../tokens';
import { memberRoutes } from './http-endpoints';

@Injectable()
export class HealthServerService implements OnApplicationShutdown {
  private server: HealthServer | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly members: MemberService,
    private readonly metrics: MetricsService,
  ) {}

  async start(): Promise<void> {
    this.server = await startHealthServer(this.config.listenMetricsUrls, memberRoutes(this.members, this.metrics), (url) => this.logger.info({ url }, 'serving health and metrics'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}
