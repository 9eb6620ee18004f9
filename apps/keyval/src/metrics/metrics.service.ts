/**
 * The member process's metrics: one prom-client registry (process and Node.js metrics, build
 * info), the member's families (fed by the hooks passed to KvMember.open) and the client gRPC
 * server's `grpc_server_*`. Served at /metrics on the client URLs and on --listen-metrics-urls.
 */
import { Injectable } from '@nestjs/common';
import { createProcessRegistry, GrpcServerMetrics, MemberMetrics, METRICS_CONTENT_TYPE } from '@keyval/metrics';
import type { Registry } from 'prom-client';
import { ETCD_VERSION, KEYVAL_VERSION } from '../version';

@Injectable()
export class MetricsService {
  readonly registry: Registry = createProcessRegistry({ component: 'member', version: KEYVAL_VERSION, etcdVersion: ETCD_VERSION });
  readonly member = new MemberMetrics(this.registry);
  readonly grpc = new GrpcServerMetrics(this.registry);
  readonly contentType = METRICS_CONTENT_TYPE;

  /** The exposition text of everything registered. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
