/**
 * The gateway's HTTP/1.1 endpoints, on its client URLs (told apart from gRPC by the first
 * bytes) and on --listen-metrics-urls: /metrics, /health and /healthz (it serves), /readyz (it
 * knows a leader and is not draining; with the members it sees), /livez and /version.
 */
import type { HttpAnswer, HttpRoutes } from '@keyval/ops';
import type { Gateway } from '@keyval/gateway-core';
import type { GatewayService } from '../gateway/gateway.service';
import { ETCD_VERSION, GATEWAY_VERSION } from '../metrics/metrics.service';
import type { MetricsService } from '../metrics/metrics.service';

export function gatewayRoutes(gateways: GatewayService, metrics: MetricsService): HttpRoutes {
  const withGateway =
    (fn: (gateway: Gateway) => HttpAnswer): (() => HttpAnswer) =>
    () => {
      const gateway = gateways.gateway;
      return gateway === undefined ? { status: 503, body: { health: 'false', reason: 'starting' } } : fn(gateway);
    };
  const health = withGateway((g) => {
    const h = g.health();
    return { status: h.healthy ? 200 : 503, body: h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason } };
  });
  return {
    '/metrics': async () => ({ status: 200, body: await metrics.text(), contentType: metrics.contentType }),
    '/health': health,
    '/healthz': health,
    '/readyz': withGateway((g) => {
      const r = g.ready();
      return { status: r.ready ? 200 : 503, body: { ...r, members: g.directory.describe().members } };
    }),
    '/livez': () => ({ status: 200, body: { live: true } }),
    '/version': () => ({ status: 200, body: { etcdserver: ETCD_VERSION, etcdcluster: ETCD_VERSION, keyval: GATEWAY_VERSION } }),
  };
}
