/**
 * Where each method goes and when it may be sent again. Every method of the services the
 * gateway passes through has exactly one route kind:
 *
 * | kind            | sent to                                   | sent again after…                          |
 * |-----------------|-------------------------------------------|--------------------------------------------|
 * | `write`         | the leader, under an exactly-once session | any failure that may or may not have applied |
 * | `read`          | linearizable: the leader; serializable: spread over members (configurable) | any failure |
 * | `idempotent`    | the leader, else any member that answers   | any failure                                |
 * | `once`          | the leader                                 | only a definite "not applied" answer       |
 */
import type { ServiceDefinition } from '@keyval/grpc';
import { admin, etcd, v3election, v3lock } from '@keyval/proto';

/** How a method is routed and retried (see the table above). */
export type RouteKind = 'write' | 'read' | 'idempotent' | 'once';

/** How the gateway handles one method. */
export interface Route {
  /** `/etcdserverpb.KV/Put` */
  readonly path: string;
  readonly kind: RouteKind;
}

/** Methods by kind, keyed by the service's full name; methods not listed are `once`. */
const KINDS: Readonly<Record<string, Readonly<Record<string, RouteKind>>>> = {
  [etcd.KVDefinition.fullName]: { Range: 'read', Put: 'write', DeleteRange: 'write', Txn: 'write', Compact: 'once' },
  [etcd.ClusterDefinition.fullName]: { MemberList: 'idempotent' },
  [etcd.MaintenanceDefinition.fullName]: { Status: 'idempotent', Hash: 'idempotent', HashKV: 'idempotent' },
  // A grant (a picked id) or a revoke sent twice would not answer as the first did: `once`.
  [etcd.LeaseDefinition.fullName]: { LeaseTimeToLive: 'idempotent', LeaseLeases: 'idempotent' },
  [admin.AdminDefinition.fullName]: { Status: 'idempotent', MemberList: 'idempotent' },
  [v3election.ElectionDefinition.fullName]: { Leader: 'idempotent' },
};

/** The services the gateway serves, passing each call through to a member. */
export const PASSTHROUGH_SERVICES: readonly ServiceDefinition[] = [
  etcd.KVDefinition,
  etcd.WatchDefinition,
  etcd.LeaseDefinition,
  etcd.ClusterDefinition,
  etcd.MaintenanceDefinition,
  admin.AdminDefinition,
  v3lock.LockDefinition,
  v3election.ElectionDefinition,
];

/**
 * Unary calls that wait as long as the client does (a lock held by another, a campaign behind
 * other candidates): sent once to the leader with the client's own deadline (none: no limit),
 * never the gateway's default timeout, never sent again.
 */
const WAITING_METHODS: ReadonlySet<string> = new Set(['/v3lockpb.Lock/Lock', '/v3electionpb.Election/Campaign']);

/** True for a call that may wait as long as its client does (see WAITING_METHODS). */
export function waitsForClient(route: Route): boolean {
  return WAITING_METHODS.has(route.path);
}

/**
 * Where a bidirectional stream goes: watches to any member answering (every member serves
 * them from its applied state; spread like serializable reads), the rest (lease keepalives)
 * to the leader, whose lessor renews them.
 * A stream is never replayed: if its member fails, the client gets the failure and resumes.
 */
export function bidiTargetOf(service: ServiceDefinition, methodName: string): 'any' | 'leader' {
  return service.fullName === etcd.WatchDefinition.fullName && methodName === 'Watch' ? 'any' : 'leader';
}

/** The route of `method` of `service`. */
export function routeOf(service: ServiceDefinition, methodName: string): Route {
  return { path: `/${service.fullName}/${methodName}`, kind: KINDS[service.fullName]?.[methodName] ?? 'once' };
}
