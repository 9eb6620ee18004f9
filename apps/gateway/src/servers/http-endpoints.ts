/**
 * The gateway's HTTP/1.1 endpoints, on its client URLs (told apart from gRPC by the first
 * bytes) and on --listen-metrics-urls: /metrics, /health and /healthz (it serves), /readyz (it
 * knows a leader and is not draining; with the members it sees), /livez and /version.
 */
import { etcdHttpRoutes } from '@keyval/ops';
import type { HttpRoutes } from '@keyval/ops';
import type { GatewayService } from '../gateway/gateway.service';
import { ETCD_VERSION, GATEWAY_VERSION } from '../metrics/metrics.service';
import type { MetricsService } from '../metrics/metrics.service';

export function gatewayRoutes(gateways: GatewayService, metrics: MetricsService): HttpRoutes {
  return etcdHttpRoutes({
    metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
    health: () => gateways.gateway?.health(),
    ready: () => {
      const g = gateways.gateway;
      if (g === undefined) return undefined;
      const r = g.ready();
      return { status: r.ready ? 200 : 503, body: { ...r, members: g.directory.describe().members } };
    },
    version: { etcdserver: ETCD_VERSION, etcdcluster: ETCD_VERSION, keyval: GATEWAY_VERSION },
  });
}
