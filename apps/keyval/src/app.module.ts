/** The keyval app: a member, its client servers and its health endpoints. */
import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { KeyvalConfig } from './config/keyval-config';
import type { AppLogger } from './logger';
import type { Tracing } from './tracing';
import { MemberService } from './member/member.service';
import { MetricsService } from './metrics/metrics.service';
import { ClientServerService } from './servers/client-server.service';
import { HealthServerService } from './servers/health-server.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER, KEYVAL_TRACING } from './tokens';

@Module({})
export class KeyvalModule {
  static forMember(config: KeyvalConfig, logger: AppLogger, tracing: Tracing): DynamicModule {
    return {
      module: KeyvalModule,
      providers: [{ provide: KEYVAL_CONFIG, useValue: config }, { provide: KEYVAL_LOGGER, useValue: logger }, { provide: KEYVAL_TRACING, useValue: tracing }, MetricsService, MemberService, ClientServerService, HealthServerService],
    };
  }
}
