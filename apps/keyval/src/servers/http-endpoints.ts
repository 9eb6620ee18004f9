/**
 * The member's HTTP/1.1 endpoints, as etcd serves them on its client URL (and on
 * --listen-metrics-urls): /metrics (Prometheus), /health (etcd's JSON: {"health":"true"}),
 * /healthz (the same), /readyz (a leader known and the startup commit applied), /livez (the
 * process answers) and /version (etcd's JSON).
 */
import type { HttpAnswer, HttpRoutes } from '@keyval/ops';
import type { KvMember } from '@keyval/cluster';
import type { MemberService } from '../member/member.service';
import type { MetricsService } from '../metrics/metrics.service';
import { ETCD_VERSION, KEYVAL_PRODUCT_VERSION } from '../version';

export function memberRoutes(members: MemberService, metrics: MetricsService): HttpRoutes {
  const withMember =
    (fn: (member: KvMember) => HttpAnswer): (() => HttpAnswer) =>
    () => {
      const member = members.opened;
      return member === undefined ? { status: 503, body: { health: 'false', reason: 'starting' } } : fn(member);
    };
  const health = withMember((m) => {
    const h = m.health();
    return { status: h.healthy ? 200 : 503, body: h.healthy ? { health: 'true' } : { health: 'false', reason: h.reason } };
  });
  return {
    '/metrics': async () => ({ status: 200, body: await metrics.text(), contentType: metrics.contentType }),
    '/health': health,
    '/healthz': health,
    '/readyz': withMember((m) => {
      const r = m.ready();
      return { status: r.ready ? 200 : 503, body: r.ready ? { ready: true } : { ready: false, reason: r.reason } };
    }),
    '/livez': () => ({ status: 200, body: { live: true } }),
    '/version': () => ({ status: 200, body: { etcdserver: ETCD_VERSION, etcdcluster: ETCD_VERSION, keyval: KEYVAL_PRODUCT_VERSION } }),
  };
}
