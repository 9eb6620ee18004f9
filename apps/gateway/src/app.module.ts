/** The gateway app: the gateway (lib) and its health endpoints, under Nest's lifecycle. */
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { GatewayConfig } from './config/gateway-config';
import { GatewayService } from './gateway/gateway.service';
import type { AppLogger } from './logger';
import type { Tracing } from './tracing';
import { HealthServerService } from './servers/health-server.service';
import { MetricsService } from './metrics/metrics.service';
import { GATEWAY_CONFIG, GATEWAY_LOGGER, GATEWAY_TRACING } from './tokens';

@Module({})
export class GatewayModule {
  static forConfig(config: GatewayConfig, logger: AppLogger, tracing: Tracing): DynamicModule {
    return {
      module: GatewayModule,
      providers: [{ provide: GATEWAY_CONFIG, useValue: config }, { provide: GATEWAY_LOGGER, useValue: logger }, { provide: GATEWAY_TRACING, useValue: tracing }, MetricsService, GatewayService, HealthServerService],
    };
  }
}
