/**
 * etcd 3.4's grpc-gateway as a table: the JSON paths and the gRPC method each calls, the
 * versions they are served under, and the HTTP status of each gRPC code (with its text),
 * which a failed call answers with — alone, or in the object that ends a failed stream.
 */
import { GrpcStatus } from './status';

/** The paths served, under `/v3/` and `/v3beta/`, and the gRPC method each calls. */
export const JSON_API_PATHS: Readonly<Record<string, string>> = {
  'kv/range': '/etcdserverpb.KV/Range',
  'kv/put': '/etcdserverpb.KV/Put',
  'kv/deleterange': '/etcdserverpb.KV/DeleteRange',
  'kv/txn': '/etcdserverpb.KV/Txn',
  'kv/compaction': '/etcdserverpb.KV/Compact',
  watch: '/etcdserverpb.Watch/Watch',
  'lease/grant': '/etcdserverpb.Lease/LeaseGrant',
  'lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  'kv/lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  'lease/keepalive': '/etcdserverpb.Lease/LeaseKeepAlive',
  'lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  'kv/lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  'lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  'kv/lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  'maintenance/status': '/etcdserverpb.Maintenance/Status',
  'maintenance/alarm': '/etcdserverpb.Maintenance/Alarm',
  'maintenance/defragment': '/etcdserverpb.Maintenance/Defragment',
  // etcd 3.4's proto maps Hash and HashKV to this one path; its gateway serves Hash there.
  'maintenance/hash': '/etcdserverpb.Maintenance/Hash',
  'maintenance/snapshot': '/etcdserverpb.Maintenance/Snapshot',
  'maintenance/transfer-leadership': '/etcdserverpb.Maintenance/MoveLeader',
  'cluster/member/add': '/etcdserverpb.Cluster/MemberAdd',
  'cluster/member/remove': '/etcdserverpb.Cluster/MemberRemove',
  'cluster/member/update': '/etcdserverpb.Cluster/MemberUpdate',
  'cluster/member/list': '/etcdserverpb.Cluster/MemberList',
  'cluster/member/promote': '/etcdserverpb.Cluster/MemberPromote',
  // etcd's Auth service: no server here serves it, so these answer UNIMPLEMENTED as over gRPC.
  'auth/enable': '/etcdserverpb.Auth/AuthEnable',
  'auth/disable': '/etcdserverpb.Auth/AuthDisable',
  'auth/authenticate': '/etcdserverpb.Auth/Authenticate',
  'auth/user/add': '/etcdserverpb.Auth/UserAdd',
  'auth/user/get': '/etcdserverpb.Auth/UserGet',
  'auth/user/list': '/etcdserverpb.Auth/UserList',
  'auth/user/delete': '/etcdserverpb.Auth/UserDelete',
  'auth/user/changepw': '/etcdserverpb.Auth/UserChangePassword',
  'auth/user/grant': '/etcdserverpb.Auth/UserGrantRole',
  'auth/user/revoke': '/etcdserverpb.Auth/UserRevokeRole',
  'auth/role/add': '/etcdserverpb.Auth/RoleAdd',
  'auth/role/get': '/etcdserverpb.Auth/RoleGet',
  'auth/role/list': '/etcdserverpb.Auth/RoleList',
  'auth/role/delete': '/etcdserverpb.Auth/RoleDelete',
  'auth/role/grant': '/etcdserverpb.Auth/RoleGrantPermission',
  'auth/role/revoke': '/etcdserverpb.Auth/RoleRevokePermission',
  'lock/lock': '/v3lockpb.Lock/Lock',
  'lock/unlock': '/v3lockpb.Lock/Unlock',
  'election/campaign': '/v3electionpb.Election/Campaign',
  'election/proclaim': '/v3electionpb.Election/Proclaim',
  'election/leader': '/v3electionpb.Election/Leader',
  'election/observe': '/v3electionpb.Election/Observe',
  'election/resign': '/v3electionpb.Election/Resign',
};

/** The versions etcd 3.4 serves its JSON API under. */
export const JSON_API_PREFIXES = ['/v3/', '/v3beta/'];

/** HTTP statuses of gRPC codes, as etcd's grpc-gateway (v1) maps them. */
export const JSON_API_HTTP_STATUS: Readonly<Record<number, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 408,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 412,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

/**
 * The object that ends a failed stream, as etcd 3.4's gateway (grpc-gateway v1) writes it:
 * `{"error":{"grpc_code":14,"http_code":503,"message":"…","http_status":"Service Unavailable"}}`,
 * no newline after it.
 */
export function streamErrorLine(code: GrpcStatus, message: string): string {
  const httpStatus = JSON_API_HTTP_STATUS[code] ?? 500;
  return JSON.stringify({ error: { grpc_code: code, http_code: httpStatus, message, http_status: httpStatusText(httpStatus) } });
}

/** The HTTP status text Go's net/http gives `status`. */
export function httpStatusText(status: number): string {
  return (
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      408: 'Request Timeout',
      409: 'Conflict',
      412: 'Precondition Failed',
      429: 'Too Many Requests',
      500: 'Internal Server Error',
      501: 'Not Implemented',
      503: 'Service Unavailable',
      504: 'Gateway Timeout',
    }[status] ?? String(status)
  );
}
