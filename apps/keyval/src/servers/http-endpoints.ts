/**
 * The member's HTTP/1.1 endpoints, as etcd serves them on its client URL (and on
 * --listen-metrics-urls): /metrics (Prometheus), /health and /healthz (the log store accepts
 * writes and no alarm is active, as etcd's), /readyz (a leader known and the startup commit applied), /livez and /version.
 */
import { describeAlarm } from '@keyval/api';
import { etcdHttpRoutes } from '@keyval/ops';
import type { HttpRoutes } from '@keyval/ops';
import type { MemberService } from '../member/member.service';
import type { MetricsService } from '../metrics/metrics.service';
import { ETCD_VERSION, KEYVAL_PRODUCT_VERSION } from '../version';

export function memberRoutes(members: MemberService, metrics: MetricsService): HttpRoutes {
  return etcdHttpRoutes({
    metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
    health: () => {
      const member = members.opened;
      if (member === undefined) return undefined;
      const h = member.health();
      // etcd's /health is false while any alarm is active.
      const alarms = member.alarms.active();
      return !h.healthy || alarms.length === 0 ? h : { healthy: false, reason: `alarm active: ${alarms.map(describeAlarm).join(', ').trim()}` };
    },
    ready: () => {
      const r = members.opened?.ready();
      return r === undefined ? undefined : { status: r.ready ? 200 : 503, body: r.ready ? { ready: true } : { ready: false, reason: r.reason } };
    },
    version: { etcdserver: ETCD_VERSION, etcdcluster: ETCD_VERSION, keyval: KEYVAL_PRODUCT_VERSION },
  });
}
