/**
 * HTTP endpoints for supervisors: /healthz (the gateway runs), /readyz (it knows a leader
 * and is not draining) and /metrics (Prometheus text: calls, retries, leader changes,
 * indeterminate writes...). One server per --listen-metrics-urls entry.
 */
import * as http from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { GatewayConfig } from '../config/gateway-config';
import { GatewayService } from '../gateway/gateway.service';
import type { AppLogger } from '../logger';
import { GATEWAY_CONFIG, GATEWAY_LOGGER } from '../tokens';
import { formatMetrics } from './metrics-text';

@Injectable()
export class HealthServerService implements OnApplicationShutdown {
  private readonly servers: http.Server[] = [];

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: AppLogger,
    private readonly gateways: GatewayService,
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
    const gateway = this.gateways.gateway;
    if (gateway === undefined) {
      send(503, { status: 'starting' });
      return;
    }
    switch (path) {
      case '/healthz':
      case '/health': {
        const h = gateway.health();
        send(h.healthy ? 200 : 503, h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason });
        return;
      }
      case '/readyz': {
        const r = gateway.ready();
        send(r.ready ? 200 : 503, { ...r, members: gateway.directory.describe().members });
        return;
      }
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(formatMetrics(gateway.stats()));
        return;
      default:
        send(404, { error: `no such endpoint ${path}; try /healthz, /readyz, /metrics` });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
