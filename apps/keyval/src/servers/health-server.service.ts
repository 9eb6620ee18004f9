/**
 * HTTP endpoints for supervisors: /healthz (the member runs and its log accepts writes),
 * /readyz (it knows a leader and has applied what was committed when it started) and
 * /metrics (Prometheus text: role, term, indexes, driver counters). One server per
 * --listen-metrics-urls entry.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import { startHealthServer } from '@keyval/ops';
import type { HealthServer, HttpAnswer } from '@keyval/ops';
import type { KvMember } from '@keyval/cluster';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { MemberService } from '../member/member.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER } from '../tokens';
import { formatMemberMetrics } from './member-metrics';

@Injectable()
export class HealthServerService implements OnApplicationShutdown {
  private server: HealthServer | undefined;

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly members: MemberService,
  ) {}

  private withMember(fn: (member: KvMember) => HttpAnswer): () => HttpAnswer {
    return () => {
      let member: KvMember;
      try {
        member = this.members.member;
      } catch {
        return { status: 503, body: { status: 'starting' } };
      }
      return fn(member);
    };
  }

  async start(): Promise<void> {
    const health = this.withMember((m) => {
      const h = m.health();
      return { status: h.healthy ? 200 : 503, body: h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason } };
    });
    this.server = await startHealthServer(
      this.config.listenMetricsUrls,
      {
        '/healthz': health,
        '/health': health,
        '/readyz': this.withMember((m) => {
          const r = m.ready();
          return { status: r.ready ? 200 : 503, body: r.ready ? { ready: true } : { ready: false, reason: r.reason } };
        }),
        '/metrics': this.withMember((m) => ({ status: 200, body: formatMemberMetrics(m), contentType: 'text/plain; version=0.0.4' })),
      },
      (url) => this.logger.info({ url }, 'serving health and metrics'),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}
