/**
 * HTTP endpoints for supervisors: /healthz (the member runs and its log accepts writes),
 * /readyz (it knows a leader and has applied what was committed when it started) and
 * /metrics (Prometheus). One server per --listen-metrics-urls entry.
 */
import * as http from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { KeyvalConfig } from '../config/keyval-config';
import type { AppLogger } from '../logger';
import { MemberService } from '../member/member.service';
import { KEYVAL_CONFIG, KEYVAL_LOGGER } from '../tokens';

@Injectable()
export class HealthServerService implements OnApplicationShutdown {
  private readonly servers: http.Server[] = [];

  constructor(
    @Inject(KEYVAL_CONFIG) private readonly config: KeyvalConfig,
    @Inject(KEYVAL_LOGGER) private readonly logger: AppLogger,
    private readonly members: MemberService,
  ) {}

  async start(): Promise<void> {
    for (const url of this.config.listenMetricsUrls) {
      const server = http.createServer((req, res) => this.handle(req, res));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(url.port, url.host, () => resolve());
      });
      this.servers.push(server);
      this.logger.info({ url: url.url }, 'serving health and metrics');
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      send(405, { error: 'only GET' });
      return;
    }
    let member;
    try {
      member = this.members.member;
    } catch {
      send(503, { status: 'starting' });
      return;
    }
    switch (path) {
      case '/healthz':
      case '/health': {
        const h = member.health();
        send(h.healthy ? 200 : 503, h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason });
        return;
      }
      case '/readyz': {
        const r = member.ready();
        send(r.ready ? 200 : 503, r.ready ? { ready: true } : { ready: false, reason: r.reason });
        return;
      }
      default:
        send(404, { error: `no such endpoint ${path}; try /healthz, /readyz` });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
