/**
 * The gateway process's metrics: one prom-client registry (process and Node.js metrics, build
 * info), the gateway's `keyval_gateway_*` families and its gRPC server's `grpc_server_*`.
 * Served at /metrics on the client URLs and on --listen-metrics-urls.
 */
import { Injectable } from '@nestjs/common';
import { createProcessRegistry, GatewayMetrics, GrpcServerMetrics, METRICS_CONTENT_TYPE } from '@keyval/metrics';
import type { Registry } from 'prom-client';

/** KeyVal's version, and the etcd server version the gateway passes through from the members. */
export const GATEWAY_VERSION = '0.1.0';
export const ETCD_VERSION = '3.4.0';

@Injectable()
export class MetricsService {
  readonly registry: Registry = createProcessRegistry({ component: 'gateway', version: GATEWAY_VERSION, etcdVersion: ETCD_VERSION });
  readonly gateway = new GatewayMetrics(this.registry);
  readonly grpc = new GrpcServerMetrics(this.registry);
  readonly contentType = METRICS_CONTENT_TYPE;

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
