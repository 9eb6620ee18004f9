/**
 * The registry of one process (a member or a gateway): prom-client's default process and
 * Node.js metrics (`process_*`, `nodejs_*`) and `keyval_build_info`. Everything else is added
 * by the families of this lib, each given this registry — never prom-client's global one, so
 * that several members can run in one process (the tests) without sharing counters.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export interface ProcessRegistryOptions {
  /** What runs in this process: `member` or `gateway`. */
  readonly component: 'member' | 'gateway';
  /** KeyVal's version (the etcd API version it speaks is in `etcd_version`). */
  readonly version: string;
  /** The etcd server version it reports to clients (e.g. 3.4.0). */
  readonly etcdVersion: string;
  /** Add prom-client's process and Node.js metrics (default true; tests running many members in one process turn it off). */
  readonly processMetrics?: boolean;
}

/** The Content-Type of `registry.metrics()` (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export function createProcessRegistry(options: ProcessRegistryOptions): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry });
  }
  const info = new Gauge({
    name: 'keyval_build_info',
    help: 'Always 1; its labels say which KeyVal build runs here: version, component (member or gateway), etcd API version and Node.js version.',
    labelNames: ['version', 'component', 'etcd_version', 'nodejs_version'],
    registers: [registry],
  });
  info.set({ version: options.version, component: options.component, etcd_version: options.etcdVersion, nodejs_version: process.version }, 1);
  return registry;
}
